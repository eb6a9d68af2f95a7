// Package testfs holds file system checks shared by tests (it imports
// nothing of the project, so any package's tests may use it).
package testfs
