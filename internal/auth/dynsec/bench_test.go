package dynsec

import "testing"

// BenchmarkAuthorize measures the checks made for every message: a client
// with its own role and two groups' roles, the match in the last role.
func BenchmarkAuthorize(b *testing.B) {
	path := b.TempDir() + "/dynsec.json"
	if err := InitFile(path, "admin", "admin"); err != nil {
		b.Fatal(err)
	}
	s, err := Open(path, nil)
	if err != nil {
		b.Fatal(err)
	}
	s.Handle("", "", []byte(decisionsSetup))
	for _, bc := range []struct {
		name     string
		username string
		topic    string
		access   Access
	}{
		{"write", "alice", "group/a/b", Write},
		{"read", "bob", "news/a", Read},
		{"subscribe", "alice", "group/+/x", Subscribe},
		{"anonymous", "", "anon/x", Read},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				s.Authorize("c", bc.username, bc.username != "", bc.topic, bc.access)
			}
		})
	}
}
