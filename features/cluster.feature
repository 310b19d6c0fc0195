@k8s @cluster
Feature: The cluster the guide builds

  @check:kubeadm.join
  Scenario: the workers joined with a valid token
    Then kubeadm join succeeded on every worker

  @check:cluster.version
  Scenario: the API server runs v1.23.6
    Then the API server reports the pinned version

  @check:cluster.nodes-ready
  Scenario: three nodes are Ready
    Then every node is Ready with the pinned kubelet version

  @check:cluster.kube-system-pods
  Scenario: kube-system is healthy
    Then every kube-system pod is Running and Ready
