// Package service runs midge as Mosquitto runs: it takes Mosquitto's
// command line and mosquitto.conf, opens the listeners, wires security
// and logging into the broker, and handles signals (SIGHUP reloads).
package service

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/midge-mqtt/midge/broker"
	"github.com/midge-mqtt/midge/internal/bridge"
	"github.com/midge-mqtt/midge/internal/config"
	"github.com/midge-mqtt/midge/internal/store/pebblestore"
)

// exitUsage is Mosquitto's exit status for a bad command line or config.
const exitUsage = 3

const usageText = `midge version %s

midge is an MQTT v5.0/v3.1.1/v3.1 broker.

Usage: midge [-c config_file] [-d] [-h] [-p port]

 -c : specify the broker config file.
 -d : put the broker into the background after starting.
 -h : display this help.
 -p : start the broker listening on the specified port.
      Not recommended in conjunction with the -c option.
 -v : verbose mode - enable all logging types. This overrides
      any logging options given in the config file.
`

// brokerFlags is the parsed broker command line.
type brokerFlags struct {
	configFile string
	daemon     bool
	ports      []int
	verbose    bool
}

// parseBrokerFlags parses Mosquitto's broker flags. Like Mosquitto it
// matches whole arguments only (no "-dv").
func parseBrokerFlags(args []string) (brokerFlags, error) {
	var f brokerFlags
	for i := 0; i < len(args); i++ {
		switch a := args[i]; a {
		case "-c", "--config-file":
			if i+1 >= len(args) {
				return f, errors.New("-c argument given but no config file specified")
			}
			i++
			f.configFile = args[i]
		case "-d", "--daemon":
			f.daemon = true
		case "-p", "--port":
			if i+1 >= len(args) {
				return f, errors.New("-p argument given, but no port specified")
			}
			i++
			p, err := strconv.Atoi(args[i])
			if err != nil || p < 1 || p > 65535 {
				return f, fmt.Errorf("invalid port specified (%s)", args[i])
			}
			if len(f.ports) == 10 {
				return f, errors.New("only 10 ports can be specified on the command line")
			}
			f.ports = append(f.ports, p)
		case "-v", "--verbose":
			f.verbose = true
		case "-h", "--help":
			return f, errHelp
		default:
			return f, fmt.Errorf("unknown option '%s'", a)
		}
	}
	return f, nil
}

var errHelp = errors.New("help requested")

// Main runs the broker with Mosquitto's command line (args exclude the
// program name) until SIGINT or SIGTERM, and returns the exit status.
func Main(args []string, stdout, stderr io.Writer) int {
	flags, err := parseBrokerFlags(args)
	if err != nil {
		if !errors.Is(err, errHelp) {
			fmt.Fprintf(stderr, "Error: %s.\n", upperFirst(err.Error()))
		}
		fmt.Fprintf(stdout, usageText, broker.Version)
		return exitUsage
	}
	cfg := config.Default()
	if flags.configFile != "" {
		if cfg, err = config.Load(flags.configFile); err != nil {
			fmt.Fprintf(stderr, "%d: Error: %v\n", time.Now().Unix(), err)
			return exitUsage
		}
	}
	if len(flags.ports) > 0 {
		cfg.ApplyPorts(flags.ports)
	}
	if err := checkSupported(cfg); err != nil {
		fmt.Fprintf(stderr, "%d: Error: %v\n", time.Now().Unix(), err)
		return exitUsage
	}
	if flags.daemon && os.Getenv(daemonEnv) == "" {
		return daemonize(stderr)
	}

	// Take the signals before anything is announced: a SIGHUP sent as soon as
	// "running" is logged must not kill the broker with the default action.
	sigs := make(chan os.Signal, 16)
	signal.Notify(sigs, append([]os.Signal{syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP}, userSignals...)...)
	barrier := &signalBarrier{sig: barrierSignal}
	if barrier.sig != nil {
		// On the same channel, so that it comes after the signals sent
		// before it.
		signal.Notify(sigs, barrier.sig)
	}
	defer signal.Stop(sigs)
	attachService(sigs)

	sink, err := newLogSink(cfg, flags.verbose, stdout, stderr)
	if err != nil {
		fmt.Fprintf(stderr, "%d: Error: %v\n", time.Now().Unix(), err)
		return 1
	}
	if err := writePidFile(cfg.PidFile); err != nil {
		fmt.Fprintf(stderr, "%d: Error: %v\n", time.Now().Unix(), err)
		return 1
	}
	if cfg.PidFile != "" {
		defer os.Remove(cfg.PidFile)
	}
	defer sink.close()
	log := slog.New(sink)

	notice(log, fmt.Sprintf("midge version %s starting", broker.Version))
	if cfg.File != "" {
		notice(log, fmt.Sprintf("Config loaded from %s.", cfg.File))
	} else {
		notice(log, "Using default config.")
	}
	for _, w := range cfg.Warnings {
		log.Warn("Warning: " + w)
	}
	if cfg.LocalOnly {
		notice(log, "Starting in local only mode. Connections will only be possible from clients running on this machine.")
		notice(log, "Create a configuration file which defines a listener to allow remote access.")
	}

	// Security first, as Mosquitto: a password or ACL file that cannot be
	// used stops the start before any socket opens.
	bls := make(map[*broker.Listener]*config.Listener, len(cfg.Listeners))
	for _, l := range cfg.Listeners {
		bls[brokerListener(cfg, l)] = l
	}
	ds, err := openDynsecs(cfg, bls, log)
	if err != nil {
		log.Error("Error: " + upperFirst(err.Error()) + ".")
		return securityExit(err)
	}
	tl := &tallies{}
	pol, err := loadPolicy(cfg, bls, ds, tl, log)
	if err != nil {
		log.Error("Error: " + upperFirst(err.Error()) + ".")
		return securityExit(err)
	}
	// Sockets next, while still root (ports below 1024), then drop
	// privileges before anything writes files: the store must be owned by
	// the user the broker runs as.
	lns, err := openListeners(cfg, bls, log)
	if err != nil {
		log.Error("Error: " + upperFirst(err.Error()) + ".")
		return 1
	}
	served := false
	defer func() {
		if !served {
			for _, o := range lns {
				o.ln.Close()
			}
		}
	}()
	admPrep, err := prepareAdmin(cfg)
	if err != nil {
		log.Error("Error: " + upperFirst(err.Error()) + ".")
		return 1
	}
	defer func() {
		if !served && admPrep != nil {
			admPrep.ln.Close()
		}
	}()
	if err := dropPrivileges(cfg.User, log); err != nil {
		log.Error("Error: " + upperFirst(err.Error()) + ".")
		return 1
	}

	opts := brokerOptions(cfg)
	opts.Logger = log
	opts.Auth = pol
	var inputs atomic.Pointer[reloadInputs]
	inputs.Store(newReloadInputs(cfg))
	if barrier.sig != nil {
		opts.ConnectBarrier = connectBarrier(barrier, &inputs)
	}
	var imported *pendingImport
	if cfg.Persistence {
		anchorNew, err := checkAnchor(cfg, log)
		if err != nil {
			log.Error("Error: " + upperFirst(err.Error()) + ".")
			return 1
		}
		fresh, err := storeIsNew(storeDir(cfg))
		if err != nil {
			log.Error("Error: " + upperFirst(err.Error()) + ".")
			return 1
		}
		st, err := openStore(cfg, log)
		if err != nil {
			log.Error("Error: " + upperFirst(err.Error()) + ".")
			return 1
		}
		defer st.Close() // after the broker: deferred calls run last first
		opts.Store = st
		if db := mosquittoDBPath(cfg); fresh && fileExists(db) {
			// The first start after Mosquitto: keep its state.
			if imported, err = importMosquittoDB(db, st); err != nil {
				log.Error("Error: " + upperFirst(err.Error()) + ".")
				return 1
			}
		}
		if anchorNew {
			if err := anchor(cfg); err != nil {
				log.Error("Error: Persistence: " + err.Error() + ".")
				return 1
			}
		}
	}
	node, err := startCluster(cfg, log)
	if err != nil {
		log.Error("Error: " + upperFirst(err.Error()) + ".")
		return 1
	}
	if node != nil {
		opts.Relay = node
		opts.Store = node.Store(opts.Store)
		defer node.Close() // after the broker, whose last wills it forwards
	}
	srv := broker.New(opts)
	defer srv.Close()
	ds.serveControl(srv, node)
	if err := srv.Restore(); err != nil {
		log.Error("Error: " + upperFirst(err.Error()) + ".")
		return 1
	}
	if node != nil {
		// Joined before the listeners open: a client's first packets
		// already reach the whole cluster.
		if err := node.Start(srv); err != nil {
			log.Error("Error: " + upperFirst(err.Error()) + ".")
			return 1
		}
	}
	if imported != nil {
		imported.log(log)
	}
	if slices.Contains(cfg.LogDest, "topic") {
		sink.publishTo(func(topic string, line []byte) {
			// QoS 2, not retained, expiring after 20 s, as Mosquitto.
			_, _ = srv.Publish(broker.Message{Topic: topic, Payload: line, QoS: 2, Expiry: 20 * time.Second})
		})
	}
	errc := make(chan error, len(lns))
	for _, o := range lns {
		go func() { errc <- srv.Serve(o.ln, o.bl) }()
	}
	served = true
	bridges := bridge.NewManager(srv, log, bridge.Options{MaxInflight: cfg.MaxInflightMessages, SysInterval: opts.SysInterval})
	defer bridges.Close() // before the broker closes
	bridges.Start(cfg.Bridges)
	r := &reloader{flags: flags, log: log, sink: sink, srv: srv, opened: lns, current: cfg, bridges: bridges, inputs: &inputs, dynsecs: ds, tallies: tl}
	r.live.Store(cfg)
	r.applyControlAPI(cfg.EnableControlAPI)
	// The admin API's reload goes through this loop, as SIGHUP does.
	reloads := make(chan chan error)
	quit := make(chan struct{})
	adm, err := startAdmin(admPrep, cfg, r.live.Load, srv, lns, bridges, node, tl, log, func() error {
		done := make(chan error, 1)
		select {
		case reloads <- done:
			return <-done
		case <-quit:
			return errors.New("the broker is shutting down")
		}
	})
	if err != nil {
		log.Error("Error: " + upperFirst(err.Error()) + ".")
		return 1
	}
	if adm != nil {
		admDone := make(chan struct{})
		go func() {
			defer close(admDone)
			if err := adm.Serve(); err != nil {
				log.Error(fmt.Sprintf("Error: admin listener failed: %v", err))
			}
		}()
		defer func() {
			adm.SetReady(false)
			_ = adm.Close()
			<-admDone
		}()
		r.admin = adm
	}
	defer close(quit) // first: no reload is waited for once the loop is gone
	if adm != nil {
		adm.SetReady(true) // before the "running" line: whoever waits for it may ask /readyz at once
	}
	defer startMemoryReleaser()()
	notice(log, fmt.Sprintf("midge version %s running", broker.Version))
	sdNotify("READY=1")
	var pending os.Signal // taken while settling a barrier, handled next
	for {
		sig := pending
		pending = nil
		if sig == nil {
			select {
			case sig = <-sigs:
			case done := <-reloads:
				done <- r.reload()
				continue
			case err := <-errc:
				if !errors.Is(err, broker.ErrServerClosed) {
					log.Error(fmt.Sprintf("Error: listener failed: %v", err))
					return 1
				}
				continue
			}
		}
		switch sig {
		case barrier.sig:
			// A SIGHUP that another thread took just before the
			// barrier's signal can reach this loop just after it when
			// that thread is descheduled (a loaded machine): give it a
			// moment before the CONNECTs go on.
			t := time.NewTimer(barrierSettle)
			select {
			case s := <-sigs:
				if s == syscall.SIGHUP {
					_ = r.reload()
				} else {
					pending = s
				}
			case <-t.C:
			}
			t.Stop()
			barrier.release()
			continue
		case syscall.SIGHUP:
			_ = r.reload()
			continue
		}
		if isUserSignal(sig) {
			notice(log, fmt.Sprintf("Received %v: nothing to do.", sig))
			continue
		}
		sdNotify("STOPPING=1")
		notice(log, fmt.Sprintf("midge version %s terminating", broker.Version))
		return 0
	}
}

// barrierSettle is how long the signal loop waits for a late SIGHUP
// after the barrier's signal. The barrier is up only while a file the
// reload reads has changed and not been reloaded, so CONNECTs pay it
// only then.
const barrierSettle = 5 * time.Millisecond

func notice(log *slog.Logger, msg string) {
	log.Log(context.Background(), broker.LevelNotice, msg)
}

// upperFirst capitalises a message, unless it starts with a file name
// (a first word with a dot, a slash or a colon), which must stay as it is.
func upperFirst(s string) string {
	if s == "" {
		return s
	}
	first, _, _ := strings.Cut(s, " ")
	if strings.ContainsAny(first, "./\\:") {
		return s
	}
	if c := s[0]; c >= 'a' && c <= 'z' {
		return string(c-'a'+'A') + s[1:]
	}
	return s
}

// checkSupported refuses configurations that ask for security midge cannot
// provide: starting without it would silently weaken the broker.
func checkSupported(cfg *config.Config) error {
	secs := []*config.Security{&cfg.Security}
	if cfg.PerListenerSettings {
		for _, l := range cfg.Listeners {
			secs = append(secs, &l.Security)
		}
	}
	for _, s := range secs {
		switch {
		case s.PSKFile != "":
			return errors.New("psk_file is not supported: Go's TLS has no TLS-PSK; use certificates")
		}
		if err := checkPlugins(s); err != nil {
			return err
		}
	}
	for _, b := range cfg.Bridges {
		switch {
		case b.Identity != "" || b.PSK != "":
			return fmt.Errorf("%s:%d: bridge %q: bridge_identity and bridge_psk are not supported: Go's TLS has no TLS-PSK; use certificates", b.File, b.Line, b.Name)
		case b.RequireOCSP:
			return fmt.Errorf("%s:%d: bridge %q: bridge_require_ocsp is not supported; refusing to start the bridge without it", b.File, b.Line, b.Name)
		case b.Ciphers != "" || b.Ciphers13 != "":
			return fmt.Errorf("%s:%d: bridge %q: bridge_ciphers and bridge_ciphers_tls1.3 are not supported: Go chooses its TLS cipher suites", b.File, b.Line, b.Name)
		case (b.CertFile != "" || b.KeyFile != "" || b.Insecure || b.ALPN != "") && b.CAFile == "" && b.CAPath == "" && !b.UseOSCerts:
			return fmt.Errorf("%s:%d: bridge %q: TLS options need bridge_cafile, bridge_capath or bridge_tls_use_os_certs; refusing to connect without TLS", b.File, b.Line, b.Name)
		}
	}
	return nil
}

// brokerOptions maps the configuration onto broker options.
func brokerOptions(cfg *config.Config) broker.Options {
	o := broker.DefaultOptions()
	o.MaxKeepalive = uint16(min(max(cfg.MaxKeepalive, 0), 65535))
	o.SysInterval = time.Duration(cfg.SysInterval) * time.Second
	o.MaxInflightMessages = cfg.MaxInflightMessages
	o.MaxInflightBytes = cfg.MaxInflightBytes
	o.MaxQueuedMessages = cfg.MaxQueuedMessages
	o.MaxQueuedBytes = cfg.MaxQueuedBytes
	o.MessageSizeLimit = cfg.MessageSizeLimit
	o.MaxPacketSize = cfg.MaxPacketSize
	o.RetainAvailable = cfg.RetainAvailable
	o.CheckRetainSource = cfg.CheckRetainSource
	o.PersistentClientExpiration = cfg.PersistentClientExpiration
	o.QueueQoS0Messages = cfg.QueueQoS0Messages
	o.UpgradeOutgoingQoS = cfg.UpgradeOutgoingQoS
	o.ConnectionMessages = cfg.ConnectionMessages
	o.SetTCPNoDelay = cfg.SetTCPNoDelay
	o.BareIdle = true // midge's listeners hand their connections to the broker alone
	return o
}

// daemonEnv marks the re-executed background child of -d.
const daemonEnv = "MIDGE_DAEMONIZED"

// daemonize runs the broker again in a new session, detached from the
// terminal, and returns at once: Go cannot fork, so -d re-executes.
func daemonize(stderr io.Writer) int {
	exe, err := os.Executable()
	if err != nil {
		fmt.Fprintf(stderr, "Error: unable to daemonise: %v\n", err)
		return 1
	}
	cmd := exec.Command(exe, os.Args[1:]...)
	cmd.Env = append(os.Environ(), daemonEnv+"=1")
	cmd.SysProcAttr = detached()
	if err := cmd.Start(); err != nil {
		fmt.Fprintf(stderr, "Error: unable to daemonise: %v\n", err)
		return 1
	}
	return 0
}

// storeDir is where the persistent store lives: a directory next to where
// Mosquitto keeps its mosquitto.db, so that the two never collide.
func storeDir(cfg *config.Config) string {
	return filepath.Join(cfg.PersistenceLocation, cfg.PersistenceFile+".midge")
}

func fileExists(path string) bool {
	st, err := os.Stat(path)
	return err == nil && st.Mode().IsRegular()
}

// openStore opens (or creates) the persistent store. A store that cannot
// be read is an error: the broker never starts empty over existing data.
func openStore(cfg *config.Config, log *slog.Logger) (*pebblestore.Store, error) {
	dir := storeDir(cfg)
	interval := time.Duration(cfg.PersistenceSync) * time.Millisecond
	st, err := pebblestore.Open(dir, pebblestore.Options{
		SyncInterval: interval,
		Logf:         func(format string, args ...any) { log.Debug(fmt.Sprintf("store: "+format, args...)) },
	})
	if err != nil {
		return nil, err
	}
	promise := "each change durable before it is acknowledged"
	if interval > 0 {
		promise = fmt.Sprintf("each change written before it is acknowledged and fsync'd within %v (persistence_sync interval)", interval)
	}
	notice(log, fmt.Sprintf("Persistence: retained messages and persistent sessions are kept in %s, %s.", dir, promise))
	return st, nil
}
