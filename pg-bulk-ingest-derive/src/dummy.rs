//! Where generated code lives: `#[doc(hidden)] const _: () = { ... };`, so
//! that its items name nothing in the user's scope.

use proc_macro2::TokenStream;
use quote::quote;

pub fn wrap_in_const(code: TokenStream) -> TokenStream {
    quote! {
        #[doc(hidden)]
        const _: () = {
            #code
        };
    }
}
