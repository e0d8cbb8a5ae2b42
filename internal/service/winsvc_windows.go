//go:build windows

package service

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"time"

	"golang.org/x/sys/windows/svc"
	"golang.org/x/sys/windows/svc/eventlog"
	"golang.org/x/sys/windows/svc/mgr"
)

// The Windows service, as Mosquitto's Windows build has one: `midge
// install` registers the service "midge" (started automatically, running
// `midge run`), `midge uninstall` removes it. The service reads
// mosquitto.conf from the directory in %MIDGE_DIR%, or else
// %MOSQUITTO_DIR% (Mosquitto's variable), and runs without one if neither
// is set.

const serviceName = "midge"

// WindowsCommand runs install, uninstall and run; handled is false for
// any other first argument.
func WindowsCommand(args []string, stdout, stderr io.Writer) (code int, handled bool) {
	if len(args) == 0 {
		return 0, false
	}
	switch args[0] {
	case "install":
		return report(stderr, installService()), true
	case "uninstall":
		return report(stderr, uninstallService()), true
	case "run":
		return runService(stdout, stderr), true
	}
	return 0, false
}

func report(stderr io.Writer, err error) int {
	if err != nil {
		fmt.Fprintf(stderr, "Error: %s.\n", strings.TrimSuffix(err.Error(), "."))
		return 1
	}
	return 0
}

func installService() error {
	exe, err := os.Executable()
	if err != nil {
		return err
	}
	m, err := mgr.Connect()
	if err != nil {
		return fmt.Errorf("unable to reach the service manager: %w", err)
	}
	defer m.Disconnect()
	s, err := m.CreateService(serviceName, exe, mgr.Config{
		DisplayName: "midge MQTT broker",
		Description: "MQTT v5.0/v3.1.1/v3.1 broker",
		StartType:   mgr.StartAutomatic,
	}, "run")
	if err != nil {
		return fmt.Errorf("unable to install the service: %w", err)
	}
	defer s.Close()
	// The event log source for log_dest syslog; it may exist already.
	_ = eventlog.InstallAsEventCreate(serviceName, eventlog.Error|eventlog.Warning|eventlog.Info)
	return nil
}

func uninstallService() error {
	m, err := mgr.Connect()
	if err != nil {
		return fmt.Errorf("unable to reach the service manager: %w", err)
	}
	defer m.Disconnect()
	s, err := m.OpenService(serviceName)
	if err != nil {
		return fmt.Errorf("the service is not installed: %w", err)
	}
	defer s.Close()
	if err := s.Delete(); err != nil {
		return fmt.Errorf("unable to remove the service: %w", err)
	}
	_ = eventlog.Remove(serviceName)
	return nil
}

// serviceArgs are the broker's arguments in the service: -c with the
// configuration file of %MIDGE_DIR% or %MOSQUITTO_DIR%, if one is set.
func serviceArgs() []string {
	for _, env := range []string{"MIDGE_DIR", "MOSQUITTO_DIR"} {
		if dir := os.Getenv(env); dir != "" {
			return []string{"-c", filepath.Join(dir, "mosquitto.conf")}
		}
	}
	return nil
}

// runService is `midge run`, how the Service Control Manager starts the
// service. (svc.IsWindowsService is not asked: it gets Wine wrong; the
// dispatcher itself fails outside the service manager.)
func runService(stdout, stderr io.Writer) int {
	h := newHandler(func() int { return Main(serviceArgs(), stdout, stderr) })
	if err := svc.Run(serviceName, h); err != nil {
		fmt.Fprintf(stderr, "Error: %v (midge run is for the Service Control Manager; without a service, run midge without it).\n", err)
		return 1
	}
	return h.code
}

// handler answers the Service Control Manager for a broker run by run,
// which takes its stop signal from the handler (attachService) and tells
// it when it serves (sdNotify).
type handler struct {
	run   func() int
	sigs  chan chan<- os.Signal // the broker's signal channel, once it has one
	ready chan struct{}
	code  int
}

func newHandler(run func() int) *handler {
	return &handler{run: run, sigs: make(chan chan<- os.Signal, 1), ready: make(chan struct{}, 1)}
}

// current is the handler of the service this process runs, if any.
var current atomic.Pointer[handler]

// attachService gives the running service's handler the broker's signal
// channel: Stop and Shutdown arrive there as os.Interrupt.
func attachService(sigs chan<- os.Signal) {
	if h := current.Load(); h != nil {
		h.sigs <- sigs
	}
}

// sdNotify takes systemd's words on Windows: READY=1 tells the service
// manager that the service runs.
func sdNotify(state string) {
	if h := current.Load(); h != nil && strings.HasPrefix(state, "READY=1") {
		select {
		case h.ready <- struct{}{}:
		default:
		}
	}
}

func sdReloading() string { return "" }

// Execute implements svc.Handler.
func (h *handler) Execute(_ []string, requests <-chan svc.ChangeRequest, status chan<- svc.Status) (bool, uint32) {
	status <- svc.Status{State: svc.StartPending}
	current.Store(h)
	defer current.Store(nil)
	done := make(chan int, 1)
	go func() { done <- h.run() }()
	var sigs chan<- os.Signal
	stop := false // asked to stop before the broker had a signal channel
	running := svc.Status{State: svc.Running, Accepts: svc.AcceptStop | svc.AcceptShutdown}
	for {
		select {
		case sigs = <-h.sigs:
			if stop {
				sigs <- os.Interrupt
			}
		case <-h.ready:
			if !stop {
				status <- running
			}
		case r := <-requests:
			switch r.Cmd {
			case svc.Interrogate:
				status <- r.CurrentStatus
			case svc.Stop, svc.Shutdown:
				status <- svc.Status{State: svc.StopPending, WaitHint: uint32((10 * time.Second).Milliseconds())}
				if sigs != nil {
					sigs <- os.Interrupt
				}
				stop = true
			}
		case h.code = <-done:
			// A non-zero exit code goes to the SCM's log.
			return false, uint32(h.code)
		}
	}
}

var _ svc.Handler = (*handler)(nil)
