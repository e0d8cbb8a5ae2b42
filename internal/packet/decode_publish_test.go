package packet

import "testing"

// A topic name that repeats last is taken as it is; any other is checked,
// whatever last is.
func TestDecodePublishChecksNewTopics(t *testing.T) {
	body := func(topic string) []byte {
		return append([]byte{0, byte(len(topic))}, topic+"payload"...)
	}
	first := byte(PUBLISH) << 4
	var p Publish
	if err := DecodePublish(V311, first, body("a/b"), &p, "a/b"); err != nil || p.Topic != "a/b" || string(p.Payload) != "payload" {
		t.Fatalf("repeated topic: %+v, %v", p, err)
	}
	for _, bad := range []string{"a/+", "a/#", "a/\x00", "a/\x01", "\xff/b"} {
		if err := DecodePublish(V311, first, body(bad), &p, "a/b"); err == nil {
			t.Errorf("topic %q accepted after %q", bad, "a/b")
		}
	}
}
