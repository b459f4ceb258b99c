//! Support code for the conformance and interoperability tests: starting servers, Node peers and tools.
