package main

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"k8s.io/client-go/tools/clientcmd"
)

// cert is one certificate found, and where.
type cert struct {
	// source: file, kubeconfig or apiserver.
	source string
	// where: the file (as on the node), "<kubeconfig> user <name>", or the
	// API server's address.
	where    string
	subject  string
	notAfter time.Time
}

// problem is a file that should hold certificates and could not be read
// or parsed.
type problem struct {
	where string
	err   error
}

// observe reads every certificate it is pointed at: the files under dirs,
// the kubeconfigs matching the glob, and (apiServer) the API server's
// serving certificate at host; sorted, soonest to expire first.
func observe(root string, dirs []string, kubeconfigs string, apiServer bool, host string) ([]cert, []problem) {
	certs, problems := scanDirs(root, dirs)
	kc, kp := scanKubeconfigs(root, kubeconfigs)
	certs, problems = append(certs, kc...), append(problems, kp...)
	if apiServer {
		c, err := apiServerCert(host, 10*time.Second)
		if err != nil {
			problems = append(problems, problem{host, err})
		} else {
			certs = append(certs, c)
		}
	}
	sort.Slice(certs, func(i, j int) bool { return certs[i].notAfter.Before(certs[j].notAfter) })
	return certs, problems
}

// certExtensions are the files read as certificates under the directories.
var certExtensions = map[string]bool{".crt": true, ".pem": true, ".cer": true, ".cert": true}

// scanDirs reads every certificate file under the directories (root is
// where the node's filesystem is mounted; paths are reported as on the
// node). A directory that does not exist is skipped: kubeadm and kubespray
// use different ones.
func scanDirs(root string, dirs []string) ([]cert, []problem) {
	var certs []cert
	var problems []problem
	for _, dir := range dirs {
		base := filepath.Join(root, dir)
		if _, err := os.Stat(base); errors.Is(err, fs.ErrNotExist) {
			continue
		}
		err := filepath.WalkDir(base, func(path string, d fs.DirEntry, err error) error {
			onNode := filepath.Join("/", strings.TrimPrefix(path, root))
			if err != nil {
				problems = append(problems, problem{onNode, err})
				return nil
			}
			if !certExtensions[strings.ToLower(filepath.Ext(path))] {
				return nil
			}
			if d.IsDir() {
				problems = append(problems, problem{onNode, errors.New("is a directory, not a certificate file")})
				return nil
			}
			b, err := os.ReadFile(path)
			if err != nil {
				problems = append(problems, problem{onNode, err})
				return nil
			}
			found, err := parsePEM(b)
			if err != nil {
				problems = append(problems, problem{onNode, err})
				return nil
			}
			for _, c := range found {
				certs = append(certs, cert{source: "file", where: onNode, subject: c.Subject.String(), notAfter: c.NotAfter})
			}
			return nil
		})
		if err != nil {
			problems = append(problems, problem{dir, err})
		}
	}
	return certs, problems
}

// parsePEM returns every certificate of a PEM file (a bundle holds
// several); keys and other blocks are ignored. A file with no certificate,
// or one that does not parse, is an error.
func parsePEM(b []byte) ([]*x509.Certificate, error) {
	var out []*x509.Certificate
	for {
		var block *pem.Block
		block, b = pem.Decode(b)
		if block == nil {
			break
		}
		if block.Type != "CERTIFICATE" {
			continue
		}
		c, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("corrupt certificate: %w", err)
		}
		out = append(out, c)
	}
	if len(out) == 0 {
		return nil, errors.New("no PEM certificate in it")
	}
	return out, nil
}

// scanKubeconfigs reads the client certificates of the kubeconfigs matching
// the glob (embedded, or files they name).
func scanKubeconfigs(root, glob string) ([]cert, []problem) {
	var certs []cert
	var problems []problem
	matches, err := filepath.Glob(filepath.Join(root, glob))
	if err != nil {
		return nil, []problem{{glob, err}}
	}
	sort.Strings(matches)
	for _, path := range matches {
		onNode := filepath.Join("/", strings.TrimPrefix(path, root))
		cfg, err := clientcmd.LoadFromFile(path)
		if err != nil {
			problems = append(problems, problem{onNode, fmt.Errorf("not a kubeconfig: %w", err)})
			continue
		}
		users := make([]string, 0, len(cfg.AuthInfos))
		for name := range cfg.AuthInfos {
			users = append(users, name)
		}
		sort.Strings(users)
		for _, name := range users {
			a := cfg.AuthInfos[name]
			data := a.ClientCertificateData
			where := fmt.Sprintf("%s user %s", onNode, name)
			if len(data) == 0 && a.ClientCertificate != "" {
				file := a.ClientCertificate
				if !filepath.IsAbs(file) {
					file = filepath.Join(filepath.Dir(onNode), file)
				}
				where = fmt.Sprintf("%s user %s (%s)", onNode, name, file)
				if data, err = os.ReadFile(filepath.Join(root, file)); err != nil {
					problems = append(problems, problem{where, err})
					continue
				}
			}
			if len(data) == 0 {
				continue // a token or exec user: no certificate to expire
			}
			found, err := parsePEM(data)
			if err != nil {
				problems = append(problems, problem{where, err})
				continue
			}
			certs = append(certs, cert{source: "kubeconfig", where: where, subject: found[0].Subject.String(), notAfter: found[0].NotAfter})
		}
	}
	return certs, problems
}

// apiServerCert reads the serving certificate the API server presents. It
// only reads the certificate's dates; nothing is sent over the connection,
// so the chain is not verified here (the API client does that).
func apiServerCert(host string, timeout time.Duration) (cert, error) {
	u, err := url.Parse(host)
	if err != nil || u.Host == "" {
		return cert{}, fmt.Errorf("API server address %q: not a URL", host)
	}
	addr := u.Host
	if u.Port() == "" {
		addr = net.JoinHostPort(u.Hostname(), "443")
	}
	conn, err := tls.DialWithDialer(&net.Dialer{Timeout: timeout}, "tcp", addr, &tls.Config{InsecureSkipVerify: true}) //nolint:gosec // reading the certificate's dates only
	if err != nil {
		return cert{}, fmt.Errorf("connect to the API server at %s: %w", addr, err)
	}
	defer conn.Close()
	chain := conn.ConnectionState().PeerCertificates
	if len(chain) == 0 {
		return cert{}, fmt.Errorf("the API server at %s presented no certificate", addr)
	}
	return cert{source: "apiserver", where: addr, subject: chain[0].Subject.String(), notAfter: chain[0].NotAfter}, nil
}
