//! Windows code signing (Authenticode), runnable from any host.

pub mod authenticode;
