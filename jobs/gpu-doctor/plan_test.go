package main

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
)

func TestDiagnose(t *testing.T) {
	now := time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)
	st := state{
		nodes: []node{
			{name: "ok", allocatable: 8, labelled: 8, models: []string{"nvidia/a100"}},
			{name: "plugin-crashing", allocatable: 2, labelled: 2, models: []string{"nvidia/t4"}},
			{name: "cpu"},
		},
		plugins: []plugin{
			{node: "ok", name: "kube-system/dp-1", ready: true},
			{node: "plugin-crashing", name: "kube-system/dp-2", ready: false},
		},
		pending: []pendingPod{
			{namespace: "t", name: "young", gpus: 1, since: now.Add(-time.Minute)},
			{namespace: "t", name: "old", gpus: 1, since: now.Add(-time.Hour)},
		},
	}
	got := map[string]string{}
	for _, f := range plan(st, now, 10*time.Minute, "app=dp") {
		got[f.Target.String()+" "+f.Verb] = f.Message
	}
	assert.Len(t, got, 2, "%v", got)
	assert.Contains(t, got["Node/plugin-crashing gpu-device-plugin-missing"], "device plugin pod kube-system/dp-2 is not ready")
	assert.Contains(t, got["Node/plugin-crashing gpu-device-plugin-missing"], "kubectl get pods -A -l app=dp -o wide")
	assert.Contains(t, got["Pod/t/old gpu-pod-pending"], "Pending for 1h0m0s: not scheduled yet")
}
