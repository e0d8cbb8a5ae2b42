package client_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/midge-mqtt/midge/broker"
	"github.com/midge-mqtt/midge/client"
)

// startBroker runs an in-process broker for the examples and returns its
// address and a function that stops it.
func startBroker() (string, func()) {
	opts := broker.DefaultOptions()
	opts.SysInterval = 0
	srv := broker.New(opts)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	l := broker.DefaultListener(0)
	l.AllowAnonymous = true
	served := make(chan struct{})
	go func() {
		srv.Serve(ln, l)
		close(served)
	}()
	return ln.Addr().String(), func() {
		srv.Close()
		<-served
	}
}

// Subscribe and publish at QoS 1 with MQTT 5.
func Example() {
	addr, stopBroker := startBroker()
	defer stopBroker()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()

	received := make(chan *client.Message, 1)
	c, err := client.Connect(ctx, client.Options{
		Address:         addr,
		ProtocolVersion: client.MQTT5,
		OnMessage:       func(_ *client.Client, m *client.Message) { received <- m },
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer c.Disconnect(ctx, client.Success, nil)

	suback, err := c.Subscribe(ctx, nil, client.Subscription{Filter: "sensors/#", QoS: 1})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("SUBACK:", suback.ReasonCodes[0])

	ack, err := c.Publish(ctx, &client.Message{Topic: "sensors/kitchen", Payload: []byte("21.5"), QoS: 1})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("PUBACK:", client.ReasonString(ack.ReasonCode))

	m := <-received
	fmt.Printf("%s %s (QoS %d)\n", m.Topic, m.Payload, m.QoS)
	// Output:
	// SUBACK: granted QoS 1
	// PUBACK: Success
	// sensors/kitchen 21.5 (QoS 1)
}

// A refused connection returns a *ConnectError whose text is Mosquitto's.
func ExampleConnectError() {
	opts := broker.DefaultOptions()
	opts.SysInterval = 0
	srv := broker.New(opts)
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	served := make(chan struct{})
	go func() {
		srv.Serve(ln, broker.DefaultListener(0)) // anonymous access refused
		close(served)
	}()
	defer func() { srv.Close(); <-served }()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()

	for _, v := range []byte{client.MQTT311, client.MQTT5} {
		_, err := client.Connect(ctx, client.Options{Address: ln.Addr().String(), ProtocolVersion: v})
		var ce *client.ConnectError
		if errors.As(err, &ce) {
			fmt.Printf("code %#x: %v\n", byte(ce.ReasonCode), err)
		}
	}
	// Output:
	// code 0x5: Connection Refused: not authorised.
	// code 0x87: Not authorized
}

// Done and Err report why a client ended: here the server shut down.
func ExampleClient_Err() {
	opts := broker.DefaultOptions()
	opts.SysInterval = 0
	srv := broker.New(opts)
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	l := broker.DefaultListener(0)
	l.AllowAnonymous = true
	served := make(chan struct{})
	go func() {
		srv.Serve(ln, l)
		close(served)
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()

	c, err := client.Connect(ctx, client.Options{Address: ln.Addr().String(), ProtocolVersion: client.MQTT5})
	if err != nil {
		fmt.Println(err)
		return
	}
	srv.Close()
	<-served
	<-c.Done()
	fmt.Println(c.Err())
	// Output:
	// server disconnected: Server shutting down
}

// A will message is published by the server when the connection ends
// without DISCONNECT; Close ends it that way.
func ExampleClient_Close() {
	addr, stopBroker := startBroker()
	defer stopBroker()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()

	wills := make(chan *client.Message, 1)
	watcher, err := client.Connect(ctx, client.Options{Address: addr,
		OnMessage: func(_ *client.Client, m *client.Message) { wills <- m }})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer watcher.Disconnect(ctx, client.Success, nil)
	if _, err := watcher.Subscribe(ctx, nil, client.Subscription{Filter: "status/#", QoS: 1}); err != nil {
		fmt.Println(err)
		return
	}

	device, err := client.Connect(ctx, client.Options{Address: addr, ClientID: "device-1",
		Will: &client.Will{Topic: "status/device-1", Payload: []byte("offline"), QoS: 1, Retain: true}})
	if err != nil {
		fmt.Println(err)
		return
	}
	device.Close()
	m := <-wills
	fmt.Printf("%s: %s\n", m.Topic, m.Payload)
	// Output:
	// status/device-1: offline
}
