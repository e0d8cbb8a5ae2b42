package service

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/midge-mqtt/midge/internal/config"
	"github.com/midge-mqtt/midge/internal/store"
	"github.com/midge-mqtt/midge/internal/store/mosqdb"
)

// A user switching from Mosquitto keeps its state: on the first start with
// persistence (midge's store does not exist yet) the mosquitto.db that
// Mosquitto left at persistence_location/persistence_file is imported:
// retained messages, persistent sessions with their subscriptions, queued
// and in-flight messages. `midge import-mosquitto-db` does the same on
// demand.

// mosquittoDBPath is where Mosquitto keeps its snapshot with this config.
func mosquittoDBPath(cfg *config.Config) string {
	return filepath.Join(cfg.PersistenceLocation, cfg.PersistenceFile)
}

// storeIsNew reports whether midge's store directory is absent or empty.
func storeIsNew(dir string) (bool, error) {
	names, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return true, nil
	}
	if err != nil {
		return false, err
	}
	return len(names) == 0, nil
}

// pendingImport is a mosquitto.db read and written to the store, to be
// logged once the broker has restored it.
type pendingImport struct {
	path string
	db   *mosqdb.DB
}

// importMosquittoDB writes the records of the mosquitto.db at path into
// st. Its inbound QoS 2 messages (received by Mosquitto, not yet
// released) are held for the client's PUBREL, as Mosquitto holds them.
func importMosquittoDB(path string, st store.Store) (*pendingImport, error) {
	db, err := mosqdb.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("importing %s: %w", path, err)
	}
	if err := st.Apply(context.Background(), db.Ops()...); err != nil {
		return nil, fmt.Errorf("importing %s: %w", path, err)
	}
	return &pendingImport{path: path, db: db}, nil
}

// log reports what was imported.
func (p *pendingImport) log(log *slog.Logger) {
	queued := 0
	for _, o := range p.db.Outgoing {
		queued += len(o)
	}
	notice(log, fmt.Sprintf("Imported %s (Mosquitto format %d): %d sessions, %d queued or in-flight messages, %d retained messages, %d messages awaiting PUBREL.",
		p.path, p.db.Version, len(p.db.Sessions), queued, len(p.db.Retained), len(p.db.Inbound)))
}

const importUsage = `Usage: midge import-mosquitto-db [-c config_file] [mosquitto.db]

Imports a Mosquitto persistence file (retained messages, persistent sessions,
their subscriptions and queued messages) into midge's store, which must not
exist yet. Without a file name, the one Mosquitto uses with the config file
(persistence_location/persistence_file) is read. midge does this by itself
on its first start with persistence true.
`

// ImportMain is `midge import-mosquitto-db`.
func ImportMain(args []string, stdout, stderr io.Writer) int {
	cfg := config.Default()
	var file string
	for i := 0; i < len(args); i++ {
		switch a := args[i]; {
		case a == "-h" || a == "--help":
			fmt.Fprint(stdout, importUsage)
			return 0
		case a == "-c" || a == "--config-file":
			if i+1 >= len(args) {
				fmt.Fprintf(stderr, "Error: -c argument given but no config file specified.\n%s", importUsage)
				return exitUsage
			}
			i++
			c, err := config.Load(args[i])
			if err != nil {
				fmt.Fprintf(stderr, "Error: %v\n", err)
				return exitUsage
			}
			cfg = c
		case len(a) > 1 && a[0] == '-':
			fmt.Fprintf(stderr, "Error: unknown option '%s'.\n%s", a, importUsage)
			return exitUsage
		case file == "":
			file = a
		default:
			fmt.Fprintf(stderr, "Error: more than one file given.\n%s", importUsage)
			return exitUsage
		}
	}
	if file == "" {
		file = mosquittoDBPath(cfg)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	if err := importInto(cfg, file, stdout, log); err != nil {
		fmt.Fprintf(stderr, "Error: %v.\n", err)
		return 1
	}
	return 0
}

func importInto(cfg *config.Config, file string, stdout io.Writer, log *slog.Logger) error {
	dir := storeDir(cfg)
	fresh, err := storeIsNew(dir)
	if err != nil {
		return err
	}
	if !fresh {
		return fmt.Errorf("%s already holds a store; importing into it would mix two states (move it away first)", dir)
	}
	if _, err := os.Stat(file); err != nil {
		return err
	}
	st, err := openStore(cfg, log)
	if err != nil {
		return err
	}
	defer st.Close()
	imp, err := importMosquittoDB(file, st)
	if err != nil {
		return err
	}
	imp.log(log)
	if err := anchor(cfg); err != nil {
		return err
	}
	queued := 0
	for _, o := range imp.db.Outgoing {
		queued += len(o)
	}
	fmt.Fprintf(stdout, "Imported %s into %s: %d sessions, %d queued or in-flight messages, %d retained messages, %d messages awaiting PUBREL.\n",
		file, dir, len(imp.db.Sessions), queued, len(imp.db.Retained), len(imp.db.Inbound))
	return nil
}
