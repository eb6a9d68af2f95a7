package aaa

import (
	"bufio"
	"crypto/md5"
	"crypto/pbkdf2"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
)

// The users file lists one user per line; blank lines and lines starting
// with '#' are ignored. Fields are separated by blanks (spaces or tabs):
//
//	<user-name> pbkdf2-sha256 <iterations> <salt> <key>
//	<user-name> chap <secret>
//
// salt, key and secret are standard base64 (with padding).
//
// A pbkdf2-sha256 user authenticates with PAP only: key is
// PBKDF2-HMAC-SHA256(password, salt, iterations, len(key)), with at least
// MinIterations iterations, a salt of at least 8 bytes and a key of 16 to 64
// bytes. HashPassword produces the fields after the user name.
//
// A chap user authenticates with PAP or CHAP. CHAP (RFC 1994) needs the
// cleartext secret on the server, so the secret is stored reversibly:
// base64 is an encoding, not a protection. A file with chap users must be
// readable only by the agent (mode 0600); New logs a warning otherwise.
// ChapSecret produces the fields after the user name.
//
// User names are at most 255 bytes and appear at most once.
const (
	schemePBKDF2 = "pbkdf2-sha256"
	schemeCHAP   = "chap"

	// MinIterations is the fewest PBKDF2 iterations the users file accepts.
	MinIterations = 1000
	// DefaultIterations is the iteration count HashPassword uses when
	// given 0.
	DefaultIterations = 600000
	maxIterations     = 50_000_000
	maxUserName       = 255
	maxLineLen        = 4096
)

// LabUser and LabPassword are the demo credentials served in lab mode
// without a users file (PAP and CHAP).
const (
	LabUser     = "demo"
	LabPassword = "demo"
)

// user is one users-file entry.
type user struct {
	iter   int
	salt   []byte
	key    []byte // pbkdf2-sha256
	secret []byte // chap: the cleartext secret
}

// Users is a parsed users file. It is immutable.
type Users struct {
	byName map[string]*user
	// reversible reports whether any user has a chap secret.
	reversible bool
	// decoy stands in for an unknown user: a PBKDF2 entry with the
	// iteration count most users have and a random key no password
	// derives, so that refusing an unknown user costs what refusing a
	// known one does and user names cannot be told apart by timing. Nil
	// when no user has a PBKDF2 key.
	decoy *user
}

// Len is the number of users.
func (u *Users) Len() int { return len(u.byName) }

// labUsers returns the lab-mode users: LabUser with LabPassword.
func labUsers() *Users {
	return &Users{byName: map[string]*user{LabUser: {secret: []byte(LabPassword)}}, reversible: true}
}

// LoadUsers reads and parses a users file.
func LoadUsers(path string) (*Users, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("aaa: users file: %w", err)
	}
	defer f.Close()
	u, err := ParseUsers(f)
	if err != nil {
		return nil, fmt.Errorf("%w (in %s)", err, path)
	}
	return u, nil
}

// ParseUsers parses the users file format described above.
func ParseUsers(r io.Reader) (*Users, error) {
	u := &Users{byName: map[string]*user{}}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 512), maxLineLen)
	n := 0
	for sc.Scan() {
		n++
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' {
			continue
		}
		name, e, err := parseUserLine(line)
		if err != nil {
			return nil, fmt.Errorf("aaa: users line %d: %w", n, err)
		}
		if _, dup := u.byName[name]; dup {
			return nil, fmt.Errorf("aaa: users line %d: user %q listed twice", n, name)
		}
		u.byName[name] = e
		if e.secret != nil {
			u.reversible = true
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("aaa: users line %d: %w", n+1, err)
	}
	u.decoy = decoyFor(u.byName)
	return u, nil
}

// decoyFor builds the unknown users' stand-in: the most common PBKDF2
// iteration count (the larger on a tie) and key length, a random salt and
// key. Not the largest count: one slow administrator entry would make
// every unknown name that slow, a cost an attacker could impose at will.
func decoyFor(users map[string]*user) *user {
	type shape struct{ iter, keyLen, saltLen int }
	counts := map[shape]int{}
	var best shape
	for _, e := range users {
		if e.key == nil {
			continue
		}
		sh := shape{e.iter, len(e.key), len(e.salt)}
		counts[sh]++
		if c, b := counts[sh], counts[best]; c > b || c == b && sh.iter > best.iter {
			best = sh
		}
	}
	if best.iter == 0 {
		return nil
	}
	d := &user{iter: best.iter, salt: make([]byte, best.saltLen), key: make([]byte, best.keyLen)}
	rand.Read(d.salt)
	rand.Read(d.key)
	return d
}

func parseUserLine(line string) (string, *user, error) {
	f := strings.Fields(line)
	if len(f) < 2 {
		return "", nil, errors.New("want <user-name> <scheme> ...")
	}
	name := f[0]
	if len(name) > maxUserName {
		return "", nil, errors.New("user name longer than 255 bytes")
	}
	switch f[1] {
	case schemePBKDF2:
		if len(f) != 5 {
			return "", nil, errors.New("want <user-name> pbkdf2-sha256 <iterations> <salt> <key>")
		}
		iter, err := strconv.Atoi(f[2])
		if err != nil || iter < MinIterations || iter > maxIterations {
			return "", nil, fmt.Errorf("iterations %q: want %d to %d", f[2], MinIterations, maxIterations)
		}
		salt, err := base64.StdEncoding.DecodeString(f[3])
		if err != nil || len(salt) < 8 {
			return "", nil, errors.New("salt: want base64 of at least 8 bytes")
		}
		key, err := base64.StdEncoding.DecodeString(f[4])
		if err != nil || len(key) < 16 || len(key) > 64 {
			return "", nil, errors.New("key: want base64 of 16 to 64 bytes")
		}
		return name, &user{iter: iter, salt: salt, key: key}, nil
	case schemeCHAP:
		if len(f) != 3 {
			return "", nil, errors.New("want <user-name> chap <secret>")
		}
		secret, err := base64.StdEncoding.DecodeString(f[2])
		if err != nil || len(secret) == 0 {
			return "", nil, errors.New("secret: want non-empty base64")
		}
		return name, &user{secret: secret}, nil
	default:
		return "", nil, fmt.Errorf("unknown scheme %q (want %s or %s)", f[1], schemePBKDF2, schemeCHAP)
	}
}

// HashPassword returns the users-file fields after the user name for a
// PAP-only user: "pbkdf2-sha256 <iterations> <salt> <key>" with a fresh
// 16-byte salt and a 32-byte key. iterations 0 means DefaultIterations.
func HashPassword(password string, iterations int) (string, error) {
	if iterations == 0 {
		iterations = DefaultIterations
	}
	if iterations < MinIterations || iterations > maxIterations {
		return "", fmt.Errorf("aaa: iterations: want %d to %d", MinIterations, maxIterations)
	}
	salt := make([]byte, 16)
	if _, err := rand.Read(salt); err != nil {
		return "", fmt.Errorf("aaa: salt: %w", err)
	}
	key, err := pbkdf2.Key(sha256.New, password, salt, iterations, 32)
	if err != nil {
		return "", fmt.Errorf("aaa: pbkdf2: %w", err)
	}
	return fmt.Sprintf("%s %d %s %s", schemePBKDF2, iterations,
		base64.StdEncoding.EncodeToString(salt), base64.StdEncoding.EncodeToString(key)), nil
}

// ChapSecret returns the users-file fields after the user name for a user
// who may use CHAP: "chap <secret>", the secret stored reversibly.
func ChapSecret(secret string) string {
	return schemeCHAP + " " + base64.StdEncoding.EncodeToString([]byte(secret))
}

// lookup returns the user named name.
func (u *Users) lookup(name string) (*user, bool) {
	e, ok := u.byName[name]
	return e, ok
}

// checkPAP reports whether password is the password of the user named
// name; an unknown name costs the decoy's key derivation.
func (u *Users) checkPAP(name string, password []byte) bool {
	e, ok := u.byName[name]
	if !ok {
		if u.decoy != nil {
			u.decoy.checkPAP(password)
		}
		return false
	}
	return e.checkPAP(password)
}

// checkPAP reports whether password is the user's password.
func (e *user) checkPAP(password []byte) bool {
	if e.secret != nil {
		return subtle.ConstantTimeCompare(password, e.secret) == 1
	}
	key, err := pbkdf2.Key(sha256.New, string(password), e.salt, e.iter, len(e.key))
	if err != nil {
		return false
	}
	return subtle.ConstantTimeCompare(key, e.key) == 1
}

// checkCHAP reports whether response is MD5(ident || secret || challenge)
// (RFC 1994 §4.1). Users without a reversible secret never pass.
func (e *user) checkCHAP(ident byte, challenge, response []byte) bool {
	if e.secret == nil || len(response) != md5.Size {
		return false
	}
	want := chapResponse(ident, e.secret, challenge)
	return subtle.ConstantTimeCompare(want, response) == 1
}

// chapResponse computes the CHAP MD5 response.
func chapResponse(ident byte, secret, challenge []byte) []byte {
	h := md5.New()
	h.Write([]byte{ident})
	h.Write(secret)
	h.Write(challenge)
	return h.Sum(nil)
}
