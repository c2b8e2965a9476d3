//! zoo.cfg parsing
