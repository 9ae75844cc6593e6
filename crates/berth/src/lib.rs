//! End-to-end tests of berth live in `tests/`; this library is empty on purpose.
