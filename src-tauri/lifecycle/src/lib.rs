//! Backend lifecycle.
