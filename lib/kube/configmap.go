package kube

import (
	"context"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// WriteKey sets one key of a ConfigMap as it was read ("" removes it) and
// updates it with the resourceVersion it was read at: the API server
// refuses the update (409 Conflict) when anyone wrote it since, so a
// record two runs share is never overwritten blindly. fieldManager names
// the writer.
func WriteKey(ctx context.Context, client kubernetes.Interface, cm *corev1.ConfigMap, key, value, fieldManager string) error {
	cm = cm.DeepCopy()
	if cm.Data == nil {
		cm.Data = map[string]string{}
	}
	if value == "" {
		delete(cm.Data, key)
	} else {
		cm.Data[key] = value
	}
	_, err := client.CoreV1().ConfigMaps(cm.Namespace).Update(ctx, cm, metav1.UpdateOptions{FieldManager: fieldManager})
	return err
}
