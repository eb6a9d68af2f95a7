// Package configs holds the agent's typed configuration: loading from YAML with
// DRA_* environment overrides, validation with field-named errors, and the
// embedded default configuration the agent runs on when no file is given.
package configs
