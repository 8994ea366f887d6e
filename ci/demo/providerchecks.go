package main

import (
	"encoding/pem"
	"net/http"
	"net/http/httptest"

	storagev1 "k8s.io/api/storage/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/akash-janitor/akash-janitor/lib/chain"
	"github.com/akash-janitor/akash-janitor/lib/chain/chaintest"
)

// providerChecks shows provider-doctor's provider checks: a provider whose
// pods all run and that wins nothing, for what the chain advertises that
// the cluster does not have.
func (d *demo) providerChecks() error {
	for name, labelled := range map[string]bool{"beta2": true, "beta3": false} {
		sc := &storagev1.StorageClass{ObjectMeta: metav1.ObjectMeta{Name: name}, Provisioner: "rook-ceph.rbd.csi.ceph.com"}
		if labelled {
			sc.Labels = map[string]string{"akash.network": "true"}
		}
		// beta2 is there already, as the provider's fixtures make it.
		if _, err := d.cluster.Kube.StorageV1().StorageClasses().Create(d.ctx, sc, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
			return err
		}
	}
	gateway := httptest.NewTLSServer(http.NotFoundHandler())
	defer gateway.Close()
	ch := chaintest.New()
	srv := httptest.NewServer(ch)
	defer srv.Close()
	const provider = "akash1nxq8gmsw2vlz3m68qvyvcf3kh6q269ajvqw6y0"
	const auditor = "akash1365yvmc4s7awdyj3n2sav7xfx76adc6dnmlx63"
	a := func(k, v string) chain.Attribute { return chain.Attribute{Key: k, Value: v} }
	ch.SetProvider(provider, gateway.URL, a("host", "akash"), a("tier", "community"), a("organization", "example-renamed"),
		a("email", "ops@example.com"), a("discord-username", "example_ops"), a("website", "https://example.com"),
		a("status-page", "https://example.com"), a("location-region", "eu-west"), a("country", "DE"), a("city", "FRA"),
		a("timezone", "utc+1"), a("location-type", "datacenter"), a("hosting-provider", "hetzner"), a("capabilities/cpu", "amd"),
		a("capabilities/cpu/arch", "x86-64"), a("capabilities/memory", "ddr5ecc"), a("network-provider", "hetzner"),
		a("network-speed-up", "1000"), a("network-speed-down", "1000"), a("feat-shm", "true"),
		a("capabilities/storage/2/class", "ram"), a("capabilities/storage/2/persistent", "false"), a("capabilities/ip-lease", "false"),
		a("feat-endpoint-ip", "false"), a("feat-endpoint-custom-domain", "true"), a("feat-persistent-storage", "true"),
		a("capabilities/storage/1/class", "beta3"), a("capabilities/storage/1/persistent", "true"),
		a("capabilities/gpu", "nvidia"), a("cuda", "12.7"),
		a("capabilities/gpu/vendor/nvidia/model/a100", "true"), a("capabilities/gpu/vendor/nvidia/model/h100", "true"))
	ch.SignAttributes(provider, auditor, a("host", "akash"), a("organization", "example"))
	ch.AddCertificate(provider, "1", "valid", pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: gateway.Certificate().Raw}))
	say("provider-doctor's provider checks, against the simulated node: the provider advertises storage class\n" +
		"beta3, whose StorageClass nobody labelled akash.network=true (so the inventory counts none of it),\n" +
		"and not beta2, which is labelled; an H100 no node has, and not the RTX 4090s gpu-1 has; and its\n" +
		"organization changed since the auditor signed it. Every pod runs; the provider wins nothing:")
	return d.runJob("provider-doctor", "--chain-rest", srv.URL, "--provider", provider)
}
