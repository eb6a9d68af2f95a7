package state

import "strings"

// Redis keys are prefix + kind + ":{" + id + "}": the braces make id the
// key's Cluster hash tag, so every key of one session or subscriber lands
// in one slot and a script may touch them together. Braces and % inside
// id are escaped (%7B, %7D, %25), so that the tag is always the whole id.

// Key kinds.
const (
	kindBinding = "bind"
	kindBucket  = "bucket"
)

// redisKey builds prefix + kind + ":{" + id + "}".
func redisKey(prefix, kind, id string) string {
	if strings.ContainsAny(id, "{}%") {
		id = tagEscaper.Replace(id)
	}
	var b strings.Builder
	b.Grow(len(prefix) + len(kind) + len(id) + 4)
	b.WriteString(prefix)
	b.WriteString(kind)
	b.WriteString(":{")
	b.WriteString(id)
	b.WriteByte('}')
	return b.String()
}

var tagEscaper = strings.NewReplacer("%", "%25", "{", "%7B", "}", "%7D")

// Key returns prefix + kind + ":{" + id + "}", id escaped: every key built
// with the same id is in the same Cluster hash slot. A kind is one word
// naming what the key holds ("ocs", "ocs-session").
func Key(prefix, kind, id string) string { return redisKey(prefix, kind, id) }
