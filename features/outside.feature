@host @outside
Feature: The lab's outside: every node can download
  On the cloud a node reaches the internet only through its floating IP (the router's NAT for
  its port). The offline lab has an outside segment of its own — an HTTP server and a container
  registry behind a per-lab cloud router — and nothing beyond it (guide pitfall 2,
  必须给每个虚拟机都绑定一个浮动IP，校园网就行，不然容器无法访问外网（下载都不行）).

  @check:net.egress
  Scenario: every node fetches a file and pulls an image from the outside
    Then every node fetches the outside's file and pulls its image
