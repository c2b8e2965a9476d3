//! fourlw
