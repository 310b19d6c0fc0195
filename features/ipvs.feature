@k8s @ipvs
Feature: kube-proxy in IPVS mode (guide: 开启IPVS)

  @check:ipvs.configmap-mode
  Scenario: the kube-proxy ConfigMap selects ipvs
    Then the kube-proxy ConfigMap has mode ipvs

  @check:ipvs.proxy-mode
  Scenario: kube-proxy runs in ipvs mode
    Then kube-proxy reports ipvs on its metrics port on every node

  @check:ipvs.kubernetes-service @check:ipvs.kube-ipvs0
  Scenario: IPVS serves the kubernetes Service
    Then ipvsadm lists the kubernetes Service on every node
    And the kube-ipvs0 interface exists on every node
