// Package fdtest starts and stops freeDiameter daemons for tests.
package fdtest
