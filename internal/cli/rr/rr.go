// Package rr is midge rr, a drop-in replacement for mosquitto_rr 2.0: it
// subscribes to the -e response topic, publishes one request to -t with
// that Response Topic (MQTT 5 by default), prints the first response the
// way mosquitto_sub would and exits; -W bounds the wait (exit 27).
package rr

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/midge-mqtt/midge/client"
	"github.com/midge-mqtt/midge/internal/cli/clientflags"
	"github.com/midge-mqtt/midge/internal/cli/format"
)

const exitTimeout = 27 // MOSQ_ERR_TIMEOUT

// Main runs the tool; args exclude the program name.
func Main(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	return run(context.Background(), args, stdin, stdout, stderr, clientflags.OSEnv())
}

func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer, env clientflags.Env) int {
	cfg, err := clientflags.Parse(clientflags.RR, args, env)
	if err != nil {
		return clientflags.ReportParseError(cfg, err, usage, version, stdout, stderr)
	}
	if cfg.Topic == "" || cfg.Mode == clientflags.MsgNone || cfg.ResponseTopic == "" {
		fmt.Fprint(stderr, "Error: All of topic, message, and response topic must be supplied.\n")
		fmt.Fprint(stderr, "\nUse 'mosquitto_rr --help' to see usage.\n")
		return 1
	}
	for _, p := range cfg.PublishProps {
		if p.ID == clientflags.PropResponseTopic {
			cfg.Errorf(stderr, "Error in PUBLISH properties: Duplicate response topic.\n")
			return 1
		}
	}
	payload, ok := loadPayload(cfg, stdin, stderr)
	if !ok {
		return 1
	}
	opts, err := cfg.Options()
	if err != nil {
		cfg.PrintOptionsError(stderr, err)
		return 1
	}
	popts := format.Options{Format: cfg.Format, Verbose: cfg.Verbose, NoEOL: !cfg.EOL, Pretty: cfg.Pretty}
	if !cfg.Quiet {
		popts.Warn = stderr
	}
	printer, err := format.New(popts)
	if err != nil {
		return clientflags.ReportParseError(cfg, err, usage, version, stdout, stderr)
	}

	out := clientflags.NewLockedWriter(stdout)
	dbg := clientflags.NewDebug(cfg.Debug, out, opts.ClientID)
	response := make(chan struct{})
	var once bool
	opts.OnMessage = func(c *client.Client, m *client.Message) {
		if once {
			return
		}
		once = true
		dbg.Received(m)
		_ = printer.Print(out, clientflags.FormatMessage(m))
		close(response)
	}

	dbg.Printf("sending CONNECT")
	c, err := client.Connect(ctx, opts)
	if err != nil {
		var ce *client.ConnectError
		if errors.As(err, &ce) {
			dbg.Printf("received CONNACK (%d)", ce.ReasonCode)
		}
		msg, code := cfg.ConnectFailure(err)
		cfg.Errorf(stderr, "%s", msg)
		return code
	}
	dbg.SetID(c.ClientID())
	dbg.Printf("received CONNACK (%d)", 0)

	var timeout <-chan time.Time
	if cfg.Timeout > 0 {
		t := time.NewTimer(time.Duration(cfg.Timeout) * time.Second)
		defer t.Stop()
		timeout = t.C
	}
	code := request(ctx, cfg, c, dbg, payload, stderr)
	reason := client.Success
	if code == 0 {
		select {
		case <-response:
		case <-timeout:
			reason, code = client.DisconnectWithWill, exitTimeout
		case <-ctx.Done():
			reason = client.DisconnectWithWill
		case <-c.Done():
			cfg.Errorf(stderr, "Error: The connection was lost.\n")
			return 7
		}
	}
	dbg.Printf("sending DISCONNECT")
	dprops := clientflags.ToProperties(cfg.DisconnectProps)
	dctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	_ = c.Disconnect(dctx, reason, &dprops)
	cancel()
	if code == exitTimeout {
		cfg.Errorf(stderr, "Timed out\n")
	}
	return code
}

// request subscribes to the response topic and publishes the request.
func request(ctx context.Context, cfg *clientflags.Config, c *client.Client, dbg *clientflags.Debug, payload []byte, stderr io.Writer) int {
	mid := dbg.NextMID()
	dbg.Printf("sending SUBSCRIBE (Mid: %d, Topic: %s, QoS: %d, Options: 0x%02x)", mid, cfg.ResponseTopic, cfg.QoS, cfg.RetainHandling<<4)
	sprops := clientflags.ToProperties(cfg.SubscribeProps)
	suback, err := c.Subscribe(ctx, &sprops, client.Subscription{Filter: cfg.ResponseTopic, QoS: byte(cfg.QoS), RetainHandling: cfg.RetainHandling})
	if err != nil {
		cfg.Errorf(stderr, "Error: The connection was lost.\n")
		return 7
	}
	dbg.Printf("received SUBACK")
	if rc := suback.ReasonCodes[0]; rc >= 0x80 {
		cfg.Errorf(stderr, "%s\n", client.ReasonString(rc))
		return -1
	}
	m := &client.Message{Topic: cfg.Topic, Payload: payload, QoS: byte(cfg.QoS)}
	if cfg.ProtocolVersion == clientflags.V5 {
		m.Properties = clientflags.ToProperties(append(cfg.PublishProps[:len(cfg.PublishProps):len(cfg.PublishProps)],
			clientflags.Property{ID: clientflags.PropResponseTopic, Type: clientflags.TypeString, Str: cfg.ResponseTopic}))
	}
	pmid := dbg.Publishing(m)
	ack, err := c.Publish(ctx, m)
	if err != nil && ack == nil {
		cfg.Errorf(stderr, "Error: %v\n", err)
		return 1
	}
	dbg.Published(m.QoS, pmid, ack)
	return 0
}

// loadPayload returns the request body. mosquitto_rr 2.0.11 parses -f and
// -s but never reads them (it sends an empty request); midge rr sends the
// file or stdin contents, which is what the options document.
func loadPayload(cfg *clientflags.Config, stdin io.Reader, stderr io.Writer) ([]byte, bool) {
	switch cfg.Mode {
	case clientflags.MsgCmd:
		return cfg.Message, true
	case clientflags.MsgFile:
		data, err := os.ReadFile(cfg.FileInput)
		if err != nil {
			cfg.Errorf(stderr, "Error: Unable to open file \"%s\".\n", cfg.FileInput)
			cfg.Errorf(stderr, "Error loading input file \"%s\".\n", cfg.FileInput)
			return nil, false
		}
		return data, true
	case clientflags.MsgStdinFile:
		data, err := io.ReadAll(stdin)
		if err != nil {
			cfg.Errorf(stderr, "Error loading input from stdin.\n")
			return nil, false
		}
		return data, true
	}
	return nil, true
}
