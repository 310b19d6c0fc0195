@host @hostprep
Feature: Host preparation
  The guide's "关闭防火墙和swap", br_netfilter, the 6443 check and Docker's cgroup driver.

  @check:host.swap-off
  Scenario: swap is off now and after a reboot
    Then swap is off and no swap line is active in /etc/fstab

  @check:host.br-netfilter
  Scenario: br_netfilter is loaded
    Then the br_netfilter module is loaded on every node

  @check:host.bridge-nf-call-iptables @check:host.ip-forward
  Scenario: bridged traffic is seen by iptables and forwarding is on
    Then net.bridge.bridge-nf-call-iptables is 1 on every node
    And net.ipv4.ip_forward is 1 on every node

  @check:host.port-6443
  Scenario: port 6443 is free for the API server
    Then nothing but kube-apiserver listens on port 6443

  @check:host.cgroup-driver
  Scenario: Docker uses the systemd cgroup driver like the kubelet
    Then Docker's cgroup driver equals the kubelet's

  @check:host.no-network-manager
  Scenario: NetworkManager does not manage the nodes
    Then NetworkManager is not installed on any node

  @check:ipvs.kernel-modules
  Scenario: IPVS kernel modules are loaded
    Then ip_vs, ip_vs_rr, ip_vs_wrr, ip_vs_sh and nf_conntrack are loaded on every node
