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
	"net"
	"os"
	"os/exec"
	"os/signal"
	"slices"
	"strconv"
	"syscall"
	"time"

	"github.com/midge-mqtt/midge/broker"
	"github.com/midge-mqtt/midge/internal/config"
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
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP, syscall.SIGUSR1, syscall.SIGUSR2)
	defer signal.Stop(sigs)

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

	opts := brokerOptions(cfg)
	opts.Logger = log
	srv := broker.New(opts)
	if slices.Contains(cfg.LogDest, "topic") {
		sink.publishTo(func(topic string, line []byte) {
			// QoS 2, not retained, expiring after 20 s, as Mosquitto.
			_, _ = srv.Publish(broker.Message{Topic: topic, Payload: line, QoS: 2, Expiry: 20 * time.Second})
		})
	}

	served := 0
	errc := make(chan error, len(cfg.Listeners))
	for _, l := range cfg.Listeners {
		ln, bl, err := listen(cfg, l, log)
		if err != nil {
			if cfg.LocalOnly {
				// e.g. no IPv6 on this machine: one loopback is enough.
				log.Warn(fmt.Sprintf("Warning: %v", err))
				continue
			}
			log.Error(fmt.Sprintf("Error: %v", err))
			srv.Close()
			return 1
		}
		served++
		go func() { errc <- srv.Serve(ln, bl) }()
	}
	if served == 0 {
		log.Error("Error: unable to open any listening socket.")
		srv.Close()
		return 1
	}
	if err := dropPrivileges(cfg.User, log); err != nil {
		log.Error("Error: " + upperFirst(err.Error()) + ".")
		srv.Close()
		return 1
	}
	notice(log, fmt.Sprintf("midge version %s running", broker.Version))

	for {
		select {
		case sig := <-sigs:
			switch sig {
			case syscall.SIGHUP:
				notice(log, "Reloading config: not supported yet, configuration unchanged.")
				continue
			case syscall.SIGUSR1, syscall.SIGUSR2:
				notice(log, fmt.Sprintf("Received %v: nothing to do.", sig))
				continue
			}
			notice(log, fmt.Sprintf("midge version %s terminating", broker.Version))
			srv.Close()
			return 0
		case err := <-errc:
			if !errors.Is(err, broker.ErrServerClosed) {
				log.Error(fmt.Sprintf("Error: listener failed: %v", err))
				srv.Close()
				return 1
			}
		}
	}
}

func notice(log *slog.Logger, msg string) {
	log.Log(context.Background(), broker.LevelNotice, msg)
}

func upperFirst(s string) string {
	if s == "" {
		return s
	}
	if c := s[0]; c >= 'a' && c <= 'z' {
		return string(c-'a'+'A') + s[1:]
	}
	return s
}

// checkSupported refuses configurations that ask for security midge cannot
// provide yet: starting without them would silently weaken the broker.
func checkSupported(cfg *config.Config) error {
	secs := []*config.Security{&cfg.Security}
	for _, l := range cfg.Listeners {
		if cfg.PerListenerSettings {
			secs = append(secs, &l.Security)
		}
		where := fmt.Sprintf("%s:%d", l.File, l.Line)
		if l.TLS.CertFile != "" || l.TLS.KeyFile != "" || l.TLS.PSKHint != "" {
			return fmt.Errorf("%s: TLS listeners are not supported yet; refusing to start rather than listen without TLS", where)
		}
	}
	for _, s := range secs {
		switch {
		case s.PasswordFile != "":
			return errors.New("password_file is not supported yet; refusing to start without authentication")
		case s.ACLFile != "":
			return errors.New("acl_file is not supported yet; refusing to start without access control")
		case s.PSKFile != "":
			return errors.New("psk_file is not supported (TLS-PSK is not available in midge)")
		case len(s.Plugins) > 0:
			return errors.New("plugins are not supported yet; refusing to start without them")
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
	o.PersistentClientExpiration = cfg.PersistentClientExpiration
	o.QueueQoS0Messages = cfg.QueueQoS0Messages
	o.UpgradeOutgoingQoS = cfg.UpgradeOutgoingQoS
	o.ConnectionMessages = cfg.ConnectionMessages
	o.SetTCPNoDelay = cfg.SetTCPNoDelay
	return o
}

// listen opens one configured listener.
func listen(cfg *config.Config, l *config.Listener, log *slog.Logger) (net.Listener, *broker.Listener, error) {
	sec := cfg.SecurityFor(l)
	bl := broker.DefaultListener(l.Port)
	bl.MaxConnections = l.MaxConnections
	bl.MaxQoS = byte(l.MaxQoS)
	bl.MaxTopicAlias = uint16(l.MaxTopicAlias)
	bl.MountPoint = l.MountPoint
	bl.UseUsernameAsClientID = l.UseUsernameAsClientID
	bl.AllowAnonymous = cfg.AnonymousAllowed(l)
	bl.AllowZeroLengthClientID = sec.AllowZeroLengthClientID
	bl.AutoIDPrefix = sec.AutoIDPrefix

	if l.Protocol == "websockets" {
		return nil, nil, fmt.Errorf("%s:%d: websockets listeners are not supported yet", l.File, l.Line)
	}
	if l.UnixSocket != "" {
		bl.Name = l.UnixSocket
		_ = os.Remove(l.UnixSocket)
		notice(log, fmt.Sprintf("Opening unix listen socket on path %s.", l.UnixSocket))
		ln, err := net.Listen("unix", l.UnixSocket)
		return ln, bl, err
	}
	network, family := "tcp", ""
	switch l.SocketDomain {
	case "ipv4":
		network, family = "tcp4", "ipv4 "
	case "ipv6":
		network, family = "tcp6", "ipv6 "
	}
	host := l.BindAddress
	if ip := net.ParseIP(host); ip != nil {
		if ip.To4() != nil {
			family = "ipv4 "
		} else {
			family = "ipv6 "
		}
	}
	bl.Name = net.JoinHostPort(host, strconv.Itoa(l.Port))
	notice(log, fmt.Sprintf("Opening %slisten socket on port %d.", family, l.Port))
	ln, err := net.Listen(network, bl.Name)
	return ln, bl, err
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
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		fmt.Fprintf(stderr, "Error: unable to daemonise: %v\n", err)
		return 1
	}
	return 0
}
