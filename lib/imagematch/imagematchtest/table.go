// Package imagematchtest holds the table of image references and the
// decision every component that judges images must reach on them: the
// job's matcher, and anything else that claims to decide the same way.
package imagematchtest

import "strings"

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
		"xmrig",
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
	{Ref: "xmrig", Denied: Deny[8], Why: "a one-component entry: Docker Hub's official image"},
	{Ref: "registry-1.docker.io/xmrig:6.21", Denied: Deny[8], Why: "Docker Hub's registry host, library/ added"},
	{Ref: "index.docker.io/library/xmrig", Denied: Deny[8], Why: "Docker Hub's index name, library/ spelled out"},
	{Ref: "registry.hub.docker.com:443/xmrig@sha512:" + strings.Repeat("ab", 64), Denied: Deny[8], Why: "Docker Hub's old host and port, a sha512 digest"},
	{Ref: "quay.io/xmrig", Why: "another registry: the entry names Docker Hub"},
	{Ref: "someone/xmrig", Why: "another Docker Hub repository"},
	{Ref: "my_registry.io/xmrig", Invalid: true, Why: "a registry that is no host name ('_'): nothing can pull it"},
	{Ref: "nginx", Why: "an ordinary image"},
	{Ref: "docker.io/library/nginx:1.27", Why: "an ordinary image"},
	{Ref: "nginx:", Invalid: true, Why: "an empty tag"},
	{Ref: strings.Repeat("1", 64), Invalid: true, Why: "a bare 64-hex ID is no name"},
	{Ref: "xmrig@sha256:" + strings.Repeat("AB", 32), Invalid: true, Why: "a digest in capitals"},
	{Ref: "xmrig@md5:" + strings.Repeat("ab", 16), Invalid: true, Why: "a digest of an algorithm nobody links"},
	{Ref: "xmrig@sha256:" + strings.Repeat("ab", 31), Invalid: true, Why: "a digest of the wrong length"},
	{Ref: "example.com/" + strings.Repeat("x", 256), Invalid: true, Why: "a repository path over 255 bytes"},
	{Ref: "localhost:5000/Evil/miner", Invalid: true, Why: "a repository in capitals, behind a registry"},
	{Ref: "docker.io/library/nginx@" + DigestDenied, ImageID: true, Denied: Deny[4], Why: "what ran: the runtime's digest"},
	{Ref: DigestDenied, ImageID: true, Denied: Deny[4], Why: "what ran: a bare digest"},
	{Ref: "docker-pullable://nginx@" + DigestPinned, ImageID: true, Denied: Deny[5], Why: "what ran, as dockershim reports it"},
	{Ref: DigestOther, ImageID: true, Why: "what ran: another digest"},
	{Ref: "docker.io/packetstream/psclient@" + DigestOther, ImageID: true, Denied: Deny[0], Why: "what ran: the repository"},
}
