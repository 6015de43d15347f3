//! Placeholder; the reference backend's NIF lands with the backend.
