package rr

// usage is mosquitto_rr 2.0.11's --help text, byte for byte.
const usage = "" +
	"mosquitto_rr is an mqtt client that can be used to publish a request message and wait for a response.\n" +
	"             Defaults to MQTT v5, where the Request-Response feature will be used, but v3.1.1 can also be used\n" +
	"             with v3.1.1 brokers.\n" +
	"mosquitto_rr version 2.0.11 running on libmosquitto 2.0.11.\n" +
	"\n" +
	"Usage: mosquitto_rr {[-h host] [--unix path] [-p port] [-u username] [-P password] -t topic | -L URL} -e response-topic\n" +
	"                    [-c] [-k keepalive] [-q qos] [-R] [-x session-expiry-interval\n" +
	"                    [-F format]\n" +
	"                    [-W timeout_secs]\n" +
	"                    [-A bind_address] [--nodelay]\n" +
	"                    [-i id] [-I id_prefix]\n" +
	"                    [-d] [-N] [--quiet] [-v]\n" +
	"                    [--will-topic [--will-payload payload] [--will-qos qos] [--will-retain]]\n" +
	"                    [{--cafile file | --capath dir} [--cert file] [--key file]\n" +
	"                      [--ciphers ciphers] [--insecure]\n" +
	"                      [--tls-alpn protocol]\n" +
	"                      [--tls-engine engine] [--keyform keyform] [--tls-engine-kpass-sha1]]\n" +
	"                      [--tls-use-os-certs]\n" +
	"                     [--psk hex-key --psk-identity identity [--ciphers ciphers]]\n" +
	"                    [--proxy socks-url]\n" +
	"                    [-D command identifier value]\n" +
	"       mosquitto_rr --help\n" +
	"\n" +
	" -A : bind the outgoing socket to this host/ip address. Use to control which interface\n" +
	"      the client communicates over.\n" +
	" -c : disable clean session/enable persistent client mode\n" +
	"      When this argument is used, the broker will be instructed not to clean existing sessions\n" +
	"      for the same client id when the client connects, and sessions will never expire when the\n" +
	"      client disconnects. MQTT v5 clients can change their session expiry interval with the -x\n" +
	"      argument.\n" +
	" -d : enable debug messages.\n" +
	" -D : Define MQTT v5 properties. See the documentation for more details.\n" +
	" -e : Response topic. The client will subscribe to this topic to wait for a response.\n" +
	" -F : output format.\n" +
	" -h : mqtt host to connect to. Defaults to localhost.\n" +
	" -i : id to use for this client. Defaults to mosquitto_rr_ appended with the process id.\n" +
	" -k : keep alive in seconds for this client. Defaults to 60.\n" +
	" -L : specify user, password, hostname, port and topic as a URL in the form:\n" +
	"      mqtt(s)://[username[:password]@]host[:port]/topic\n" +
	" -N : do not add an end of line character when printing the payload.\n" +
	" -p : network port to connect to. Defaults to 1883 for plain MQTT and 8883 for MQTT over TLS.\n" +
	" -P : provide a password\n" +
	" -q : quality of service level to use for communications. Defaults to 0.\n" +
	" -R : do not print stale messages (those with retain set).\n" +
	" -t : topic where the request message will be sent.\n" +
	" -u : provide a username\n" +
	" -v : print received messages verbosely.\n" +
	" -V : specify the version of the MQTT protocol to use when connecting.\n" +
	"      Defaults to 5.\n" +
	" -W : Specifies a timeout in seconds how long to wait for a response.\n" +
	" -x : Set the session-expiry-interval property on the CONNECT packet. Applies to MQTT v5\n" +
	"      clients only. Set to 0-4294967294 to specify the session will expire in that many\n" +
	"      seconds after the client disconnects, or use -1, 4294967295, or ∞ for a session\n" +
	"      that does not expire. Defaults to -1 if -c is also given, or 0 if -c not given.\n" +
	" --help : display this message.\n" +
	" --nodelay : disable Nagle's algorithm, to reduce socket sending latency at the possible\n" +
	"             expense of more packets being sent.\n" +
	" --pretty : print formatted output rather than minimised output when using the\n" +
	"            JSON output format option.\n" +
	" --quiet : don't print error messages.\n" +
	" --unix : connect to a broker through a unix domain socket instead of a TCP socket,\n" +
	"          e.g. /tmp/mosquitto.sock\n" +
	" --will-payload : payload for the client Will, which is sent by the broker in case of\n" +
	"                  unexpected disconnection. If not given and will-topic is set, a zero\n" +
	"                  length message will be sent.\n" +
	" --will-qos : QoS level for the client Will.\n" +
	" --will-retain : if given, make the client Will retained.\n" +
	" --will-topic : the topic on which to publish the client Will.\n" +
	" --cafile : path to a file containing trusted CA certificates to enable encrypted\n" +
	"            certificate based communication.\n" +
	" --capath : path to a directory containing trusted CA certificates to enable encrypted\n" +
	"            communication.\n" +
	" --cert : client certificate for authentication, if required by server.\n" +
	" --key : client private key for authentication, if required by server.\n" +
	" --ciphers : openssl compatible list of TLS ciphers to support.\n" +
	" --tls-use-os-certs : Load and trust OS provided CA certificates.\n" +
	" --tls-version : TLS protocol version, can be one of tlsv1.3 tlsv1.2 or tlsv1.1.\n" +
	"                 Defaults to tlsv1.2 if available.\n" +
	" --insecure : do not check that the server certificate hostname matches the remote\n" +
	"              hostname. Using this option means that you cannot be sure that the\n" +
	"              remote host is the server you wish to connect to and so is insecure.\n" +
	"              Do not use this option in a production environment.\n" +
	" --psk : pre-shared-key in hexadecimal (no leading 0x) to enable TLS-PSK mode.\n" +
	" --psk-identity : client identity string for TLS-PSK mode.\n" +
	" --proxy : SOCKS5 proxy URL of the form:\n" +
	"           socks5h://[username[:password]@]hostname[:port]\n" +
	"           Only \"none\" and \"username\" authentication is supported.\n" +
	"\n" +
	"See https://mosquitto.org/ for more information.\n" +
	"\n"

// version is the --version line.
const version = "mosquitto_rr version 2.0.11 running on libmosquitto 2.0.11.\n"
