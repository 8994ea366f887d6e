package main

import (
	"testing"

	"github.com/stretchr/testify/assert"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/akash-janitor/akash-janitor/lib/actuator"
)

func TestRefusedAtAdmission(t *testing.T) {
	rs := func(status corev1.ConditionStatus, msg string) *appsv1.ReplicaSet {
		return &appsv1.ReplicaSet{ObjectMeta: metav1.ObjectMeta{Name: "web-1"}, Status: appsv1.ReplicaSetStatus{Conditions: []appsv1.ReplicaSetCondition{
			{Type: appsv1.ReplicaSetReplicaFailure, Status: status, Reason: "FailedCreate", Message: msg}}}}
	}
	ours := `pods "web-1-x" is forbidden: ValidatingAdmissionPolicy 'akash-janitor-denied-images' with binding 'akash-janitor-denied-images' denied request: container web: image "x/y" is denied by the kill-lease-by-image denylist entry "x/y" (akash-janitor closes the leases that run it)`
	assert.True(t, refusedAtAdmission(rs(corev1.ConditionTrue, ours)))
	assert.False(t, refusedAtAdmission(rs(corev1.ConditionFalse, ours)), "the failure is over")
	assert.False(t, refusedAtAdmission(rs(corev1.ConditionTrue, `pods "web-1-x" is forbidden: exceeded quota: compute`)), "another refusal")
	assert.False(t, refusedAtAdmission(&appsv1.ReplicaSet{}))

	closes := []actuator.Action{
		{Target: actuator.Ref{Kind: "Namespace", Name: "ns1"}, Message: "closing the lease: service web runs docker.io/x/y:latest"},
		{Target: actuator.Ref{Kind: "Namespace", Name: "ns2"}, Message: "closing the lease: service api runs docker.io/x/y:latest"},
	}
	withRefusals(closes, map[string][]string{"ns1": {"ReplicaSet web-1", "StatefulSet db"}})
	assert.Equal(t, "closing the lease: service web runs docker.io/x/y:latest; the image is also refused at admission (ReplicaSet web-1, StatefulSet db cannot create their pods)", closes[0].Message)
	assert.Equal(t, "closing the lease: service api runs docker.io/x/y:latest", closes[1].Message)
}
