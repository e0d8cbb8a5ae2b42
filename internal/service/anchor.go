package service

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"

	"github.com/midge-mqtt/midge/internal/config"
	"github.com/midge-mqtt/midge/internal/store/mosqdb"
)

// The persistence file anchors the store. Mosquitto keeps its whole state
// in persistence_location/persistence_file, and its users reset a broker
// by deleting that file; scripts (Mosquitto's own test suite among them)
// do it before every start that must begin empty. midge keeps its state in
// a store next to the file, so the file stays the state's identity:
//
//   - a new store gets a persistence file if there is none: an empty
//     database in Mosquitto's format, which Mosquitto starts from too;
//   - the store records the SHA-256 of that file, or of the mosquitto.db it
//     imported, in its ANCHOR file;
//   - at start, a store whose persistence file is gone is moved aside
//     (to <store>.old, replacing an older one) and the broker starts
//     empty, as Mosquitto would; a store whose file changed since (Mosquitto
//     ran on it and saved its state) is moved aside and the file imported.

const anchorFile = "ANCHOR"

// fileHash returns the hex SHA-256 of the file at path, and whether it
// exists.
func fileHash(path string) (string, bool, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return "", false, nil
	}
	if err != nil {
		return "", false, err
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:]), true, nil
}

// readAnchor returns the hash the store in dir was anchored to; ok is
// false for a store without an anchor (made before anchors existed).
func readAnchor(dir string) (hash string, ok bool, err error) {
	b, err := os.ReadFile(filepath.Join(dir, anchorFile))
	if errors.Is(err, os.ErrNotExist) {
		return "", false, nil
	}
	if err != nil {
		return "", false, err
	}
	return strings.TrimSpace(string(b)), true, nil
}

// writeFileAtomic writes b to path through a temporary file and a rename,
// syncing both, so a crash leaves the old content or the new.
func writeFileAtomic(path string, b []byte, perm os.FileMode) error {
	tmp := path + ".new"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, perm)
	if err != nil {
		return err
	}
	_, err = f.Write(b)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		os.Remove(tmp)
		return err
	}
	if d, err := os.Open(filepath.Dir(path)); err == nil {
		_ = d.Sync()
		d.Close()
	}
	return nil
}

// anchor makes the persistence file exist (an empty Mosquitto database if
// there is none) and records its hash in the store directory.
func anchor(cfg *config.Config) error {
	path := mosquittoDBPath(cfg)
	hash, exists, err := fileHash(path)
	if err != nil {
		return err
	}
	if !exists {
		var buf bytes.Buffer
		if err := mosqdb.Write(&buf, &mosqdb.DB{}); err != nil {
			return err
		}
		if err := writeFileAtomic(path, buf.Bytes(), 0o600); err != nil {
			return fmt.Errorf("writing the persistence file: %w", err)
		}
		sum := sha256.Sum256(buf.Bytes())
		hash = hex.EncodeToString(sum[:])
	}
	return writeFileAtomic(filepath.Join(storeDir(cfg), anchorFile), []byte(hash+"\n"), 0o600)
}

// checkAnchor decides, before the store is opened, whether the store still
// belongs to the persistence file, and moves it aside if it does not. It
// reports whether the store is to be anchored once open: a new store, or
// one from before anchors existed.
func checkAnchor(cfg *config.Config, log *slog.Logger) (anchorAfterOpen bool, err error) {
	dir := storeDir(cfg)
	fresh, err := storeIsNew(dir)
	if err != nil || fresh {
		return true, err
	}
	want, ok, err := readAnchor(dir)
	if err != nil || !ok {
		return true, err
	}
	path := mosquittoDBPath(cfg)
	hash, exists, err := fileHash(path)
	switch {
	case err != nil:
		return false, err
	case exists && hash == want:
		return false, nil
	case exists:
		notice(log, fmt.Sprintf("Persistence: %s was written by another broker since midge last used it; its state replaces the store, which is kept in %s.old.", path, dir))
	default:
		notice(log, fmt.Sprintf("Persistence: %s has been removed; starting empty, as Mosquitto would. The previous store is kept in %s.old.", path, dir))
	}
	if err := os.RemoveAll(dir + ".old"); err != nil {
		return false, err
	}
	if err := os.Rename(dir, dir+".old"); err != nil {
		return false, fmt.Errorf("moving the store aside: %w", err)
	}
	return true, nil
}
