package sub

// usage is mosquitto_sub 2.0.11's --help text, byte for byte.
const usage = "" +
	"mosquitto_sub is a simple mqtt client that will subscribe to a set of topics and print all messages it receives.\n" +
	"mosquitto_sub version 2.0.11 running on libmosquitto 2.0.11.\n" +
	"\n" +
	"Usage: mosquitto_sub {[-h host] [--unix path] [-p port] [-u username] [-P password] -t topic | -L URL [-t topic]}\n" +
	"                     [-c] [-k keepalive] [-q qos] [-x session-expiry-interval]\n" +
	"                     [-C msg_count] [-E] [-R] [--retained-only] [--remove-retained] [-T filter_out] [-U topic ...]\n" +
	"                     [-F format]\n" +
	"                     [-W timeout_secs]\n" +
	"                     [-A bind_address] [--nodelay]\n" +
	"                     [-i id] [-I id_prefix]\n" +
	"                     [-d] [-N] [--quiet] [-v]\n" +
	"                     [--will-topic [--will-payload payload] [--will-qos qos] [--will-retain]]\n" +
	"                     [{--cafile file | --capath dir} [--cert file] [--key file]\n" +
	"                       [--ciphers ciphers] [--insecure]\n" +
	"                       [--tls-alpn protocol]\n" +
	"                       [--tls-engine engine] [--keyform keyform] [--tls-engine-kpass-sha1]]\n" +
	"                       [--tls-use-os-certs]\n" +
	"                     [--psk hex-key --psk-identity identity [--ciphers ciphers]]\n" +
	"                     [--proxy socks-url]\n" +
	"                     [-D command identifier value]\n" +
	"       mosquitto_sub --help\n" +
	"\n" +
	" -A : bind the outgoing socket to this host/ip address. Use to control which interface\n" +
	"      the client communicates over.\n" +
	" -c : disable clean session/enable persistent client mode\n" +
	"      When this argument is used, the broker will be instructed not to clean existing sessions\n" +
	"      for the same client id when the client connects, and sessions will never expire when the\n" +
	"      client disconnects. MQTT v5 clients can change their session expiry interval with the -x\n" +
	"      argument.\n" +
	" -C : disconnect and exit after receiving the 'msg_count' messages.\n" +
	" -d : enable debug messages.\n" +
	" -D : Define MQTT v5 properties. See the documentation for more details.\n" +
	" -E : Exit once all subscriptions have been acknowledged by the broker.\n" +
	" -F : output format.\n" +
	" -h : mqtt host to connect to. Defaults to localhost.\n" +
	" -i : id to use for this client. Defaults to mosquitto_sub_ appended with the process id.\n" +
	" -I : define the client id as id_prefix appended with the process id. Useful for when the\n" +
	"      broker is using the clientid_prefixes option.\n" +
	" -k : keep alive in seconds for this client. Defaults to 60.\n" +
	" -L : specify user, password, hostname, port and topic as a URL in the form:\n" +
	"      mqtt(s)://[username[:password]@]host[:port]/topic\n" +
	" -N : do not add an end of line character when printing the payload.\n" +
	" -p : network port to connect to. Defaults to 1883 for plain MQTT and 8883 for MQTT over TLS.\n" +
	" -P : provide a password\n" +
	" -q : quality of service level to use for the subscription. Defaults to 0.\n" +
	" -R : do not print stale messages (those with retain set).\n" +
	" -t : mqtt topic to subscribe to. May be repeated multiple times.\n" +
	" -T : topic string to filter out of results. May be repeated.\n" +
	" -u : provide a username\n" +
	" -U : unsubscribe from a topic. May be repeated.\n" +
	" -v : print published messages verbosely.\n" +
	" -V : specify the version of the MQTT protocol to use when connecting.\n" +
	"      Can be mqttv5, mqttv311 or mqttv31. Defaults to mqttv311.\n" +
	" -W : Specifies a timeout in seconds how long to process incoming MQTT messages.\n" +
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
	" --random-filter : only print a percentage of received messages. Set to 100 to have all\n" +
	"                   messages printed, 50.0 to have half of the messages received on average\n" +
	"                   printed, and so on.\n" +
	" --retained-only : only handle messages with the retained flag set, and exit when the\n" +
	"                   first non-retained message is received.\n" +
	" --remove-retained : send a message to the server to clear any received retained messages\n" +
	"                     Use -T to filter out messages you do not want to be cleared.\n" +
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
	" --keyform : keyfile type, can be either \"pem\" or \"engine\".\n" +
	" --ciphers : openssl compatible list of TLS ciphers to support.\n" +
	" --tls-version : TLS protocol version, can be one of tlsv1.3 tlsv1.2 or tlsv1.1.\n" +
	"                 Defaults to tlsv1.2 if available.\n" +
	" --insecure : do not check that the server certificate hostname matches the remote\n" +
	"              hostname. Using this option means that you cannot be sure that the\n" +
	"              remote host is the server you wish to connect to and so is insecure.\n" +
	"              Do not use this option in a production environment.\n" +
	" --tls-engine : If set, enables the use of a SSL engine device.\n" +
	" --tls-engine-kpass-sha1 : SHA1 of the key password to be used with the selected SSL engine.\n" +
	" --tls-use-os-certs : Load and trust OS provided CA certificates.\n" +
	" --psk : pre-shared-key in hexadecimal (no leading 0x) to enable TLS-PSK mode.\n" +
	" --psk-identity : client identity string for TLS-PSK mode.\n" +
	" --proxy : SOCKS5 proxy URL of the form:\n" +
	"           socks5h://[username[:password]@]hostname[:port]\n" +
	"           Only \"none\" and \"username\" authentication is supported.\n" +
	"\n" +
	"See https://mosquitto.org/ for more information.\n" +
	"\n"

// version is the --version line.
const version = "mosquitto_sub version 2.0.11 running on libmosquitto 2.0.11.\n"
