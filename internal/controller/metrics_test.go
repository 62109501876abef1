/*
Copyright 2026 The userservice-operator Authors.

Licensed under the Apache License, Version 2.0 (the "License");
you may not use this file except in compliance with the License.
You may obtain a copy of the License at

	http://www.apache.org/licenses/LICENSE-2.0

Unless required by applicable law or agreed to in writing, software
distributed under the License is distributed on an "AS IS" BASIS,
WITHOUT WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied.
See the License for the specific language governing permissions and
limitations under the License.
*/
package controller

import (
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	appsv1alpha1 "github.com/userservice-dev/userservice-operator/api/v1alpha1"
)

// TestStatusCollector checks the series of one UserService whose Deployment
// does not exist yet, and that a replica that is not the leader exports none.
func TestStatusCollector(t *testing.T) {
	us := &appsv1alpha1.UserService{
		ObjectMeta: metav1.ObjectMeta{Name: "users", Namespace: "ns"},
		Spec:       appsv1alpha1.UserServiceSpec{Replicas: ptr.To[int32](3)},
		Status: appsv1alpha1.UserServiceStatus{
			Conditions: []metav1.Condition{
				{Type: appsv1alpha1.ConditionReady, Status: metav1.ConditionFalse, Reason: ReasonMigrating},
				{Type: appsv1alpha1.ConditionDegraded, Status: metav1.ConditionUnknown, Reason: "Unknown"},
			},
			MigratedImage: "img:v1", ReadyReplicas: 1,
		},
	}
	cl := fake.NewClientBuilder().WithScheme(testScheme(t)).WithObjects(us).Build()
	standby := newStatusCollector(cl, make(chan struct{}))
	if n := testutil.CollectAndCount(standby); n != 0 {
		t.Errorf("a replica that is not the leader exports %d series, want 0", n)
	}
	elected := make(chan struct{})
	close(elected)
	want := `
# HELP userservice_info 1 for each UserService, with the image that serves (status.image) and the last migrated image.
# TYPE userservice_info gauge
userservice_info{image="",migrated_image="img:v1",name="users",namespace="ns"} 1
# HELP userservice_replicas Replicas of a UserService: desired (the Deployment's spec.replicas, else what the spec asks for), ready and updated (its status).
# TYPE userservice_replicas gauge
userservice_replicas{name="users",namespace="ns",state="desired"} 3
userservice_replicas{name="users",namespace="ns",state="ready"} 1
userservice_replicas{name="users",namespace="ns",state="updated"} 0
# HELP userservice_status_condition 1 for the current status (true, false or unknown) of each condition of a UserService, else 0.
# TYPE userservice_status_condition gauge
userservice_status_condition{name="users",namespace="ns",status="false",type="Degraded"} 0
userservice_status_condition{name="users",namespace="ns",status="false",type="Ready"} 1
userservice_status_condition{name="users",namespace="ns",status="true",type="Degraded"} 0
userservice_status_condition{name="users",namespace="ns",status="true",type="Ready"} 0
userservice_status_condition{name="users",namespace="ns",status="unknown",type="Degraded"} 1
userservice_status_condition{name="users",namespace="ns",status="unknown",type="Ready"} 0
`
	if err := testutil.CollectAndCompare(newStatusCollector(cl, elected), strings.NewReader(want)); err != nil {
		t.Error(err)
	}
}
