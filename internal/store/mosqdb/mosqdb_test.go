package mosqdb

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/midge-mqtt/midge/internal/store"
)

func sampleDB() *DB {
	full := store.Message{
		Topic: "a/b", Payload: []byte("hello"), QoS: 1, Origin: "pub",
		HasPayloadFormat: true, PayloadFormat: 1, Expiry: time.Unix(2_000_000_000, 0),
		ContentType: "text/plain", ResponseTopic: "re/a", CorrelationData: []byte{1, 2},
		User: []store.UserProperty{{Key: "k", Value: "v"}},
	}
	return &DB{
		Version: 6,
		Sessions: []store.Session{
			{ClientID: "durable1", Username: "u", ExpiryInterval: store.ExpiryNever,
				Subscriptions: []store.Subscription{{Filter: "q/#", QoS: 1, ID: 5}, {Filter: "x", QoS: 2, NoLocal: true, RetainAsPublished: true}}},
			{ClientID: "v5", ExpiryInterval: 3600, DisconnectedAt: time.Unix(1_700_000_000, 0)},
		},
		Outgoing: map[string][]store.Outgoing{
			"durable1": {
				{Seq: 1, PacketID: 7, State: store.StateAwaitPuback, QoS: 1, SubIDs: []uint32{5}, Message: full},
				{Seq: 2, PacketID: 8, State: store.StateAwaitPubcomp, QoS: 2, Message: store.Message{Topic: "q/2", QoS: 2}},
				{Seq: 3, State: store.StateQueued, QoS: 1, Retain: true, Message: store.Message{Topic: "q/3", QoS: 1, Retain: true}},
			},
		},
		Inbound:  []InboundMessage{{ClientID: "v5", PacketID: 9, Message: store.Message{Topic: "in", QoS: 2, Payload: []byte("x"), Origin: "v5"}}},
		Retained: []store.Message{{Topic: "r", Payload: []byte("kept"), Retain: true}},
	}
}

func TestWriteReadRoundTrip(t *testing.T) {
	want := sampleDB()
	var buf bytes.Buffer
	if err := Write(&buf, want); err != nil {
		t.Fatal(err)
	}
	got, err := Read(bytes.NewReader(buf.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("round trip differs\n got: %+v\nwant: %+v", got, want)
	}
	if ops := got.Ops(); len(ops) != 2+3+1+1 {
		t.Fatalf("Ops: %d ops", len(ops))
	}
	// Importing into a store works end to end.
	m := store.NewMemory()
	if err := m.Apply(t.Context(), got.Ops()...); err != nil {
		t.Fatal(err)
	}
}

func TestTruncationAndCorruption(t *testing.T) {
	var buf bytes.Buffer
	if err := Write(&buf, sampleDB()); err != nil {
		t.Fatal(err)
	}
	full := buf.Bytes()
	boundaries := map[int]bool{}
	for off := len(magic) + 8; off < len(full); {
		off += 8 + int(uint32(full[off+4])<<24|uint32(full[off+5])<<16|uint32(full[off+6])<<8|uint32(full[off+7]))
		boundaries[off] = true
	}
	for n := 0; n < len(full); n++ {
		_, err := Read(bytes.NewReader(full[:n]))
		// A cut exactly between chunks is indistinguishable from a shorter
		// file (the format has no end marker and no CRC), unless it loses
		// a message store entry that something refers to.
		if err == nil && !boundaries[n] {
			t.Fatalf("truncated to %d of %d bytes: no error", n, len(full))
		}
	}
	bad := append([]byte{}, full...)
	bad[len(magic)+7] = 7 // version
	if _, err := Read(bytes.NewReader(bad)); err == nil || !strings.Contains(err.Error(), "version 7") {
		t.Fatalf("version 7: %v", err)
	}
	bad = append([]byte{}, full...)
	bad[1] = 'x'
	if _, err := Read(bytes.NewReader(bad)); err == nil {
		t.Fatal("bad magic accepted")
	}
	if _, err := ReadFile(filepath.Join(t.TempDir(), "absent.db")); err == nil || !strings.Contains(err.Error(), "absent.db") {
		t.Fatalf("missing file: %v", err)
	}
}

// v234 builds a version 2-4 file by hand from the field layout.
func TestReadV234(t *testing.T) {
	for _, version := range []byte{2, 3, 4} {
		var b []byte
		b = append(b, magic...)
		b = append(b, 0, 0, 0, 0, 0, 0, 0, version)
		chunk := func(typ byte, body ...[]byte) {
			var all []byte
			for _, p := range body {
				all = append(all, p...)
			}
			b = append(b, 0, typ, 0, 0, byte(len(all)>>8), byte(len(all)))
			b = append(b, all...)
		}
		str := func(s string) []byte { return append([]byte{byte(len(s) >> 8), byte(len(s))}, s...) }
		id := func(n byte) []byte { return []byte{n, 0, 0, 0, 0, 0, 0, 0} }
		chunk(chunkCfg, []byte{1, 8}, id(2))
		msg := [][]byte{id(1), str("src")}
		if version == 4 {
			msg = append(msg, str("user"), []byte{0, 0})
		}
		msg = append(msg, []byte{0, 0, 0, 0}, str("t/1"), []byte{1, 1, 0, 0, 0, 3}, []byte("abc"))
		chunk(chunkMsgStore, msg...)
		client := [][]byte{str("c1"), {0, 5}}
		if version != 2 {
			client = append(client, id(0))
		}
		chunk(chunkClient, client...)
		chunk(chunkClientMsg, str("c1"), id(1), []byte{0, 5, 1, 0, directionOut, msWaitPuback, 0})
		chunk(chunkRetain, id(1))
		chunk(chunkSub, str("c1"), str("t/#"), []byte{1})
		db, err := Read(bytes.NewReader(b))
		if err != nil {
			t.Fatalf("v%d: %v", version, err)
		}
		msg1 := store.Message{Topic: "t/1", Payload: []byte("abc"), QoS: 1, Retain: true, Origin: "src"}
		want := &DB{
			Version:  uint32(version),
			Sessions: []store.Session{{ClientID: "c1", ExpiryInterval: store.ExpiryNever, LastPacketID: 5, Subscriptions: []store.Subscription{{Filter: "t/#", QoS: 1}}}},
			Outgoing: map[string][]store.Outgoing{"c1": {{Seq: 1, PacketID: 5, State: store.StateAwaitPuback, QoS: 1, Message: msg1}}},
			Retained: []store.Message{msg1},
		}
		if !reflect.DeepEqual(db, want) {
			t.Fatalf("v%d:\n got: %+v\nwant: %+v", version, db, want)
		}
	}
}

// TestRealMosquitto has the real broker write a mosquitto.db: a retained
// message and a QoS 1 message queued for an offline persistent session.
func TestRealMosquitto(t *testing.T) {
	need := func(path string) {
		if _, err := os.Stat(path); err != nil {
			if os.Getenv("CI") == "true" {
				t.Fatalf("%s missing in CI: %v", path, err)
			}
			t.Skipf("%s not installed", path)
		}
	}
	need("/usr/sbin/mosquitto")
	need("/usr/bin/mosquitto_pub")
	need("/usr/bin/mosquitto_sub")
	dir := t.TempDir()
	// mosquitto may drop privileges (or be confined) and must write here.
	if err := errors.Join(os.Chmod(filepath.Dir(dir), 0o711), os.Chmod(dir, 0o777)); err != nil {
		t.Fatal(err)
	}
	port := freePort(t)
	conf := filepath.Join(dir, "mosquitto.conf")
	os.WriteFile(conf, []byte("listener "+port+" 127.0.0.1\nallow_anonymous true\npersistence true\npersistence_location "+dir+"/\n"), 0o600)
	broker := exec.Command("/usr/sbin/mosquitto", "-c", conf)
	stderr := &syncBuffer{}
	broker.Stderr = stderr
	if err := broker.Start(); err != nil {
		t.Fatal(err)
	}
	defer broker.Process.Kill()
	waitListening(t, port)
	run := func(args ...string) {
		t.Helper()
		if out, err := exec.Command(args[0], args[1:]...).CombinedOutput(); err != nil {
			t.Fatalf("%v: %v\n%s", args, err, out)
		}
	}
	run("/usr/bin/mosquitto_sub", "-p", port, "-i", "durable1", "-c", "-q", "1", "-t", "q/#", "-E")
	run("/usr/bin/mosquitto_pub", "-p", port, "-t", "r/1", "-m", "retained", "-r", "-q", "1")
	run("/usr/bin/mosquitto_pub", "-p", port, "-t", "q/1", "-m", "queued", "-q", "1")
	broker.Process.Signal(os.Interrupt)
	if err := broker.Wait(); err != nil {
		t.Fatalf("mosquitto: %v\n%s", err, stderr.String())
	}
	t.Logf("mosquitto log:\n%s", stderr.String())
	db, err := ReadFile(filepath.Join(dir, "mosquitto.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("read %+v", db)
	if len(db.Retained) != 1 || db.Retained[0].Topic != "r/1" || string(db.Retained[0].Payload) != "retained" {
		t.Fatalf("retained: %+v", db.Retained)
	}
	var sess *store.Session
	for i := range db.Sessions {
		if db.Sessions[i].ClientID == "durable1" {
			sess = &db.Sessions[i]
		}
	}
	if sess == nil || len(sess.Subscriptions) != 1 || sess.Subscriptions[0].Filter != "q/#" || sess.Subscriptions[0].QoS != 1 {
		t.Fatalf("session durable1: %+v", sess)
	}
	outs := db.Outgoing["durable1"]
	if len(outs) != 1 || outs[0].Message.Topic != "q/1" || string(outs[0].Message.Payload) != "queued" || outs[0].QoS != 1 {
		t.Fatalf("outgoing: %+v", outs)
	}
}
