// Package interop holds the tests that prove dra speaks Diameter with an
// independent implementation: freeDiameter, started on loopback by fdtest.
package interop
