// Package pub is midge pub, a drop-in replacement for mosquitto_pub 2.0:
// it connects, publishes one message (-m, -f, -s, -n, optionally --repeat
// times) or one message per stdin line (-l), and disconnects, with
// mosquitto_pub's flags, messages and exit codes.
package pub

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/midge-mqtt/midge/client"
	"github.com/midge-mqtt/midge/internal/cli/clientflags"
)

// Main runs the tool; args exclude the program name. It returns the exit
// status.
func Main(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	return run(context.Background(), args, stdin, stdout, stderr, clientflags.OSEnv())
}

func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer, env clientflags.Env) int {
	cfg, err := clientflags.Parse(clientflags.Pub, args, env)
	if err != nil {
		return clientflags.ReportParseError(cfg, err, usage, version, stdout, stderr)
	}
	if code, ok := loadMessage(cfg, stdin, stderr); !ok {
		return code
	}
	if cfg.Topic == "" || cfg.Mode == clientflags.MsgNone {
		fmt.Fprint(stderr, "Error: Both topic and message must be supplied.\n")
		io.WriteString(stdout, usage)
		return 1
	}
	opts, err := cfg.Options()
	if err != nil {
		cfg.PrintOptionsError(stderr, err)
		return 1
	}
	props := clientflags.ToProperties(cfg.PublishProps)
	if cfg.HaveTopicAlias && cfg.ProtocolVersion == clientflags.V5 {
		// mosquitto_pub sends the topic with the alias once, then the alias
		// alone; the client does exactly that when it manages aliases.
		opts.TopicAliases = true
		props.Clear(client.PropTopicAlias)
		props.TopicAlias = 0
	}

	out := clientflags.NewLockedWriter(stdout)
	dbg := clientflags.NewDebug(cfg.Debug, out, opts.ClientID)
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

	p := &publisher{cfg: cfg, c: c, dbg: dbg, props: props, stderr: stderr}
	var code int
	if cfg.Mode == clientflags.MsgStdinLine {
		code = p.lines(ctx, stdin)
	} else {
		code = p.repeat(ctx)
	}
	if code == 0 || code == -1 {
		dbg.Printf("sending DISCONNECT")
		dprops := clientflags.ToProperties(cfg.DisconnectProps)
		_ = c.Disconnect(ctx, client.Success, &dprops)
		code = 0
	} else {
		_ = c.Close()
	}
	return code
}

// loadMessage reads the -f file or -s stdin, reporting failures like
// mosquitto_pub (two lines: the cause, then which input failed).
func loadMessage(cfg *clientflags.Config, stdin io.Reader, stderr io.Writer) (int, bool) {
	const maxPayload = 268435455
	switch cfg.Mode {
	case clientflags.MsgStdinFile:
		data, err := io.ReadAll(stdin)
		switch {
		case err != nil:
		case len(data) > maxPayload:
			cfg.Errorf(stderr, "Error: Message length must be less than %d bytes.\n\n", maxPayload)
		case len(data) == 0:
			cfg.Errorf(stderr, "Error: Zero length input.\n")
		default:
			cfg.Message = data
			return 0, true
		}
		cfg.Errorf(stderr, "Error loading input from stdin.\n")
		return 1, false
	case clientflags.MsgFile:
		data, err := os.ReadFile(cfg.FileInput)
		switch {
		case err != nil:
			cfg.Errorf(stderr, "Error: Unable to open file \"%s\".\n", cfg.FileInput)
		case len(data) > maxPayload:
			cfg.Errorf(stderr, "Error: File must be less than %d bytes.\n\n", maxPayload)
		default:
			cfg.Message = data
			return 0, true
		}
		cfg.Errorf(stderr, "Error loading input file \"%s\".\n", cfg.FileInput)
		return 1, false
	}
	return 0, true
}

type publisher struct {
	cfg    *clientflags.Config
	c      *client.Client
	dbg    *clientflags.Debug
	props  client.Properties
	stderr io.Writer
}

// publish sends one message and returns 0, or the exit status of a failure.
func (p *publisher) publish(ctx context.Context, payload []byte) int {
	m := &client.Message{Topic: p.cfg.Topic, Payload: payload, QoS: byte(p.cfg.QoS), Retain: p.cfg.Retain, Properties: p.props}
	mid := p.dbg.Publishing(m)
	ack, err := p.c.Publish(ctx, m)
	var re *client.ReasonError
	switch {
	case err == nil:
		p.dbg.Published(m.QoS, mid, ack)
		return 0
	case errors.As(err, &re):
		// A refusal is a warning; mosquitto_pub carries on.
		p.dbg.Published(m.QoS, mid, ack)
		p.cfg.Errorf(p.stderr, "Warning: Publish %d failed: %s.\n", mid, client.ReasonString(re.ReasonCode))
		if re.Properties.Has(client.PropReasonString) {
			p.cfg.Errorf(p.stderr, "%s\n", re.Properties.ReasonString)
		}
		return 0
	case errors.Is(err, client.ErrQoSNotSupported):
		p.cfg.Errorf(p.stderr, "Error: Message QoS not supported on broker, try a lower QoS.\n")
		return -1
	case errors.Is(err, client.ErrPacketTooLarge):
		p.cfg.Errorf(p.stderr, "Error: Message payload is too large.\n")
		return -1
	case errors.Is(err, client.ErrInvalid):
		p.cfg.Errorf(p.stderr, "Error: Invalid input. Does your topic contain '+' or '#'?\n")
		return -1
	default:
		p.cfg.Errorf(p.stderr, "Error: The connection was lost.\n")
		return 7 // MOSQ_ERR_CONN_LOST
	}
}

func (p *publisher) repeat(ctx context.Context) int {
	payload := p.cfg.Message
	if p.cfg.Mode == clientflags.MsgNull {
		payload = nil
	}
	for i := 0; i < p.cfg.RepeatCount; i++ {
		if i > 0 && p.cfg.RepeatDelay > 0 {
			t := time.NewTimer(p.cfg.RepeatDelay)
			select {
			case <-ctx.Done():
				t.Stop()
				return 0
			case <-t.C:
			}
		}
		if code := p.publish(ctx, payload); code != 0 {
			return code
		}
	}
	return 0
}

// lines publishes one message per line of stdin, without the newline; a
// last line without a newline is sent too.
func (p *publisher) lines(ctx context.Context, stdin io.Reader) int {
	r := bufio.NewReaderSize(stdin, 64*1024)
	for {
		line, err := r.ReadBytes('\n')
		if len(line) > 0 {
			if line[len(line)-1] == '\n' {
				line = line[:len(line)-1]
			}
			if code := p.publish(ctx, line); code != 0 {
				return code
			}
		}
		if err != nil {
			return 0
		}
	}
}
