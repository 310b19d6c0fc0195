@fault @serial
Feature: The guide's cloud pitfalls, reproduced on purpose
  Each pitfall is injected on the live lab, must break exactly the checks its row names, with a
  diagnosis that quotes the guide's fix, is healed the guide's way, and the checks pass again.
  Every scenario starts from the `provisioned` snapshot, so order does not matter. A row whose
  `breaks` or `fix` is not what the run finds fails.

  Background:
    Given the lab is reset to the "provisioned" snapshot

  Scenario Outline: <pitfall>
    When the "<fault>" fault is injected
    Then it breaks <breaks> with a fix that quotes "<fix>"
    When the "<fault>" fault is healed the guide's way
    Then those checks pass again

    Examples:
      | fault           | pitfall                                                                | breaks                                                                      | fix                            |
      | swap            | swap turned back on                                                    | host.swap-off                                                               | swapoff -a                     |
      | br-netfilter    | br_netfilter not loaded                                                | host.br-netfilter, host.bridge-nf-call-iptables                             | modprobe br_netfilter          |
      | port-6443       | port 6443 already taken                                                | host.port-6443                                                              | grep 6443                      |
      | cgroup-driver   | Docker on cgroupfs while the kubelet expects systemd                   | host.cgroup-driver                                                          | native.cgroupdriver=systemd    |
      | network-manager | NetworkManager installed and managing interfaces                       | host.no-network-manager                                                     | apt-get remove network-manager |
      | clone-identity  | a clone that kept its source's MAC, product_uuid and machine-id        | identity.unique-macs, identity.unique-product-uuid, identity.unique-machine-id | 必须确保product_uuid的唯一性   |
      | static-ip       | a clone's address changed inside the guest while its port allows only the old one | port.address-allowed, identity.reach-by-name                     | 需要卸载网卡重新安装           |

  Scenario Outline: <pitfall>
    Then the BGP mesh is Established
    When the "<fault>" fault is injected
    Then it breaks <breaks>, keeps <keeps> passing, with a fix that quotes "<fix>"
    When the "<fault>" fault is healed the guide's way
    Then those checks pass again

    Examples:
      | fault               | pitfall                                                  | breaks                               | keeps           | fix                  |
      | security-group      | the cloud's default security group drops BGP and IPIP    | calico.bgp-mesh, calico.ipip-traffic | nothing         | 一定要检查虚拟机安全组 |
      | security-group-ipip | a security group that drops only IP protocol 4           | calico.ipip-traffic                  | calico.bgp-mesh | IP protocol 4 (IPIP) |
      | no-floating-ip      | a node without a floating IP cannot download while the cluster network stays up | net.egress | identity.reach-by-name, calico.bgp-mesh, calico.ipip-traffic | 必须给每个虚拟机都绑定一个浮动IP |

  @fault:link-down
  Scenario: the cloud cuts a VM's network until it is rebooted
    When the "link-down" fault is injected
    Then kubelab retries with backoff and diagnoses the node as unreachable
    When the "link-down" fault is healed the guide's way
    Then every node answers ssh again

  @fault:join-token-expired
  Scenario: joining with an expired token
    When the "join-token-expired" fault is injected
    Then it breaks kubeadm.join with a fix that quotes "kubeadm token create"
