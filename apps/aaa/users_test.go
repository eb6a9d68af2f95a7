package aaa

import (
	"fmt"
	"strings"
	"testing"
)

func TestParseUsers(t *testing.T) {
	h, err := HashPassword("pw", MinIterations)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		in      string
		users   int
		wantErr string
	}{
		{"empty", "", 0, ""},
		{"comments and blanks", "# c\n\n   \n\t# d\n", 0, ""},
		{"both schemes", "a " + h + "\nb@realm " + ChapSecret("s") + "\n", 2, ""},
		{"tabs", "a\t" + strings.ReplaceAll(h, " ", "\t") + "\n", 1, ""},
		{"duplicate", "a chap cw==\na chap cw==\n", 0, "line 2: user \"a\" listed twice"},
		{"unknown scheme", "a md5 x\n", 0, "line 1: unknown scheme"},
		{"no scheme", "a\n", 0, "line 1: want"},
		{"chap extra field", "a chap cw== x\n", 0, "line 1: want <user-name> chap"},
		{"chap bad base64", "a chap !!\n", 0, "secret"},
		{"chap empty secret", "a chap =\n", 0, "secret"},
		{"few iterations", "a pbkdf2-sha256 10 c2FsdHNhbHQ= " + strings.Repeat("A", 44) + "\n", 0, "iterations"},
		{"short salt", "a pbkdf2-sha256 1000 c2FsdA== " + strings.Repeat("A", 44) + "\n", 0, "salt"},
		{"short key", "a pbkdf2-sha256 1000 c2FsdHNhbHQ= c2FsdA==\n", 0, "key"},
		{"long name", strings.Repeat("n", 256) + " chap cw==\n", 0, "255"},
		{"long line", "a chap " + strings.Repeat("A", maxLineLen) + "\n", 0, "too long"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			u, err := ParseUsers(strings.NewReader(tt.in))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if u.Len() != tt.users {
				t.Errorf("%d users, want %d", u.Len(), tt.users)
			}
		})
	}
}

func TestCheckCredentials(t *testing.T) {
	h, err := HashPassword("alice-pw", MinIterations)
	if err != nil {
		t.Fatal(err)
	}
	u, err := ParseUsers(strings.NewReader("alice " + h + "\nbob " + ChapSecret("bob-secret") + "\n"))
	if err != nil {
		t.Fatal(err)
	}
	alice, _ := u.lookup("alice")
	bob, _ := u.lookup("bob")
	chal := []byte("challenge")
	tests := []struct {
		name string
		ok   bool
		want bool
	}{
		{"pap pbkdf2 right", alice.checkPAP([]byte("alice-pw")), true},
		{"pap pbkdf2 wrong", alice.checkPAP([]byte("alice-pX")), false},
		{"pap chap user right", bob.checkPAP([]byte("bob-secret")), true},
		{"pap chap user prefix", bob.checkPAP([]byte("bob")), false},
		{"chap right", bob.checkCHAP(3, chal, chapResponse(3, []byte("bob-secret"), chal)), true},
		{"chap wrong ident", bob.checkCHAP(4, chal, chapResponse(3, []byte("bob-secret"), chal)), false},
		{"chap short response", bob.checkCHAP(3, chal, []byte{1, 2}), false},
		{"chap pbkdf2 user", alice.checkCHAP(3, chal, chapResponse(3, []byte("alice-pw"), chal)), false},
	}
	for _, tt := range tests {
		if tt.ok != tt.want {
			t.Errorf("%s: %v, want %v", tt.name, tt.ok, tt.want)
		}
	}
	if _, err := HashPassword("x", 10); err == nil {
		t.Error("HashPassword accepted 10 iterations")
	}
}

func FuzzParseUsers(f *testing.F) {
	f.Add("alice pbkdf2-sha256 1000 c2FsdHNhbHQ= AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\nbob chap cw==\n")
	f.Add("# comment\n\n a  chap  cw== \n")
	f.Add("a pbkdf2-sha256 99999999999999999999 x y\n")
	f.Add("a chap cw==\na chap cw==\n")
	f.Fuzz(func(t *testing.T, in string) {
		u, err := ParseUsers(strings.NewReader(in))
		if err != nil {
			if u != nil {
				t.Fatal("users returned with an error")
			}
			return
		}
		for name, e := range u.byName {
			if name == "" || len(name) > maxUserName || strings.ContainsAny(name, " \t\n") {
				t.Fatalf("bad user name %q", name)
			}
			if (e.secret == nil) == (e.key == nil) {
				t.Fatalf("user %q: exactly one of secret and key expected", name)
			}
			if e.key != nil && (e.iter < MinIterations || len(e.salt) < 8) {
				t.Fatalf("user %q: weak pbkdf2 parameters", name)
			}
		}
	})
}

// TestUnknownUserDecoy: an unknown user name is refused after the same key
// derivation as a known one (the decoy has the most common iteration
// count and key size), so names cannot be told apart by timing; with no
// PBKDF2 user there is nothing to imitate.
func TestUnknownUserDecoy(t *testing.T) {
	var lines []string
	for i, iter := range []int{MinIterations, 2 * MinIterations, 2 * MinIterations, 50 * MinIterations} {
		h, err := HashPassword(fmt.Sprintf("pw%d", i), iter)
		if err != nil {
			t.Fatal(err)
		}
		lines = append(lines, fmt.Sprintf("user%d %s", i, h))
	}
	u, err := ParseUsers(strings.NewReader(strings.Join(lines, "\n") + "\nbob " + ChapSecret("bob-secret") + "\n"))
	if err != nil {
		t.Fatal(err)
	}
	known, _ := u.lookup("user1")
	if u.decoy == nil || u.decoy.iter != 2*MinIterations || len(u.decoy.key) != len(known.key) || len(u.decoy.salt) != len(known.salt) {
		t.Fatalf("decoy %+v, want the shape of user1 (%d iterations)", u.decoy, known.iter)
	}
	for _, tt := range []struct {
		name, pw string
		want     bool
	}{
		{"user1", "pw1", true},
		{"user1", "pw2", false},
		{"mallory", "pw1", false},
		{"mallory", "", false},
		{"bob", "bob-secret", true},
	} {
		if got := u.checkPAP(tt.name, []byte(tt.pw)); got != tt.want {
			t.Errorf("checkPAP(%s, %s) = %v, want %v", tt.name, tt.pw, got, tt.want)
		}
	}
	chapOnly, err := ParseUsers(strings.NewReader("bob " + ChapSecret("bob-secret") + "\n"))
	if err != nil {
		t.Fatal(err)
	}
	if chapOnly.decoy != nil || chapOnly.checkPAP("mallory", []byte("x")) {
		t.Errorf("chap-only users: decoy %+v", chapOnly.decoy)
	}
}

// BenchmarkPAPRefused compares refusing a wrong password of a known user
// with refusing an unknown user: the two should cost the same.
func BenchmarkPAPRefused(b *testing.B) {
	h, err := HashPassword("alice-pw", 20_000)
	if err != nil {
		b.Fatal(err)
	}
	u, err := ParseUsers(strings.NewReader("alice " + h + "\n"))
	if err != nil {
		b.Fatal(err)
	}
	for _, name := range []string{"alice", "mallory"} {
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if u.checkPAP(name, []byte("wrong")) {
					b.Fatal("accepted")
				}
			}
		})
	}
}
