// Package imagematchtest holds the table of image references and the
// decision every component that judges images must reach on them: the
// job's matcher, and anything else that claims to decide the same way.
package imagematchtest

// Digests in the table (content addresses; any 64 hex digits will do).
const (
	DigestDenied = "sha256:1111111111111111111111111111111111111111111111111111111111111111"
	DigestPinned = "sha256:2222222222222222222222222222222222222222222222222222222222222222"
	DigestOther  = "sha256:3333333333333333333333333333333333333333333333333333333333333333"
)

// Deny and Allow are the lists the table is judged against: one entry of
// each form.
var (
	Deny = []string{
		"packetstream/psclient",
		"ghcr.io/miner/xmrig:6.21",
		"*/traffmonetizer/cli",
		"**/honeygain/honeygain",
		DigestDenied,
		"docker.io/bad/pinned@" + DigestPinned,
		`regex:docker\.io/.*/(t-rex|nbminer)(:.*)?`,
		"localhost:5000/evil/miner",
	}
	Allow = []string{
		"*/traffmonetizer/cli:audited",
	}
)

// Case is one reference and the decision on it.
type Case struct {
	Ref string
	// ImageID: Ref is what the runtime reports as a container's imageID,
	// not an image a pod names.
	ImageID bool
	// Denied is the deny entry that covers Ref, "" when it may run.
	Denied string
	// Invalid: Ref is no image reference (the runtime would refuse it).
	Invalid bool
	Why     string
}

// Cases is the table.
var Cases = []Case{
	{Ref: "packetstream/psclient", Denied: Deny[0], Why: "the entry itself"},
	{Ref: "docker.io/packetstream/psclient", Denied: Deny[0], Why: "Docker Hub, spelled out"},
	{Ref: "index.docker.io/packetstream/psclient:latest", Denied: Deny[0], Why: "Docker Hub's index name"},
	{Ref: "registry-1.docker.io/packetstream/psclient", Denied: Deny[0], Why: "Docker Hub's registry host"},
	{Ref: "registry.hub.docker.com/packetstream/psclient:latest", Denied: Deny[0], Why: "Docker Hub's old host"},
	{Ref: "docker.io:443/packetstream/psclient", Denied: Deny[0], Why: "Docker Hub with its port"},
	{Ref: "Docker.IO/packetstream/psclient", Denied: Deny[0], Why: "a registry name in capitals is the same host"},
	{Ref: "packetstream/psclient:1.2.3", Denied: Deny[0], Why: "any tag"},
	{Ref: "packetstream/psclient@" + DigestOther, Denied: Deny[0], Why: "any digest"},
	{Ref: "packetstream/psclient-x", Why: "a near miss: another repository"},
	{Ref: "packetstream/psclientx:latest", Why: "a near miss"},
	{Ref: "packetstream/psclient/sub", Why: "a deeper path"},
	{Ref: "evil.io/packetstream/psclient", Why: "another registry: the entry names Docker Hub"},
	{Ref: "Packetstream/psclient", Why: "a first component in capitals is a registry host (the parser's rule, and containerd's): another registry"},
	{Ref: "packetstream/PSclient", Invalid: true, Why: "a repository in capitals is no reference"},
	{Ref: "mirror.gcr.io/traffmonetizer/cli", Denied: Deny[2], Why: "*/: a mirror"},
	{Ref: "traffmonetizer/cli:latest", Denied: Deny[2], Why: "*/: Docker Hub too"},
	{Ref: "quay.io/traffmonetizer/cli:1.0", Denied: Deny[2], Why: "*/: any registry"},
	{Ref: "localhost:5000/traffmonetizer/cli", Denied: Deny[2], Why: "*/: a local registry"},
	{Ref: "harbor.example.com/hub/traffmonetizer/cli", Why: "*/ keeps the path whole: a prefix is another path"},
	{Ref: "traffmonetizer/cli:audited", Why: "allowlisted tag"},
	{Ref: "mirror.gcr.io/traffmonetizer/cli:audited", Why: "allowlisted tag under any registry"},
	{Ref: "harbor.example.com/hub/honeygain/honeygain:1.0", Denied: Deny[3], Why: "**/: a proxy cache's prefix"},
	{Ref: "honeygain/honeygain", Denied: Deny[3], Why: "**/: Docker Hub"},
	{Ref: "harbor.example.com/honeygain/honeygain-lite", Why: "**/: a near miss"},
	{Ref: "ghcr.io/miner/xmrig:6.21", Denied: Deny[1], Why: "the tag named"},
	{Ref: "ghcr.io/miner/xmrig:6.22", Why: "another tag"},
	{Ref: "ghcr.io/miner/xmrig", Why: ":latest is another tag"},
	{Ref: "GHCR.io/miner/xmrig:6.21", Denied: Deny[1], Why: "the registry in capitals"},
	{Ref: "anyname/whatever@" + DigestDenied, Denied: Deny[4], Why: "the digest, whatever the name"},
	{Ref: "ghcr.io/other/image:v1@" + DigestDenied, Denied: Deny[4], Why: "the digest, whatever the name and tag"},
	{Ref: "nginx@" + DigestPinned, Denied: Deny[5], Why: "a repo@digest entry: the content, whatever the name"},
	{Ref: "docker.io/bad/pinned:latest", Why: "a repo@digest entry names the content, not the tag"},
	{Ref: "someone/t-rex:0.26", Denied: Deny[6], Why: "regex over the normalized reference"},
	{Ref: "registry-1.docker.io/someone/nbminer", Denied: Deny[6], Why: "regex sees Docker Hub's one name"},
	{Ref: "quay.io/someone/t-rex", Why: "regex: another registry"},
	{Ref: "localhost:5000/evil/miner:v2", Denied: Deny[7], Why: "a local registry, named"},
	{Ref: "localhost/evil/miner", Why: "another port is another registry"},
	{Ref: "127.0.0.1:5000/evil/miner", Why: "another host is another registry"},
	{Ref: "nginx", Why: "an ordinary image"},
	{Ref: "docker.io/library/nginx:1.27", Why: "an ordinary image"},
	{Ref: "nginx:", Invalid: true, Why: "an empty tag"},
	{Ref: "docker.io/library/nginx@" + DigestDenied, ImageID: true, Denied: Deny[4], Why: "what ran: the runtime's digest"},
	{Ref: DigestDenied, ImageID: true, Denied: Deny[4], Why: "what ran: a bare digest"},
	{Ref: "docker-pullable://nginx@" + DigestPinned, ImageID: true, Denied: Deny[5], Why: "what ran, as dockershim reports it"},
	{Ref: DigestOther, ImageID: true, Why: "what ran: another digest"},
	{Ref: "docker.io/packetstream/psclient@" + DigestOther, ImageID: true, Denied: Deny[0], Why: "what ran: the repository"},
}
