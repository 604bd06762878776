using Diffusion.Core.Execution;

namespace Diffusion.Core.Tests.Execution;

/// <summary>The memory a process can take, read from a fake <c>/proc</c> and <c>/sys/fs/cgroup</c> laid out as Linux does.</summary>
public sealed class AvailableMemoryTests
{
    private const long GiB = 1L << 30;

    [Fact]
    public void A_cgroup_v2_limit_on_an_ancestor_caps_what_meminfo_says()
    {
        string root = FakeRoot(memAvailableKib: 20 * 1024 * 1024, cgroupLine: "0::/machine/job");
        Write(root, "sys/fs/cgroup/machine/memory.max", (8 * GiB).ToString());
        Write(root, "sys/fs/cgroup/machine/memory.current", (3 * GiB).ToString());
        Write(root, "sys/fs/cgroup/machine/job/memory.max", "max");
        Write(root, "sys/fs/cgroup/machine/job/memory.current", (1 * GiB).ToString());

        AvailableMemory memory = AvailableMemory.ReadLinux(root)!;

        Assert.Equal(5 * GiB, memory.Bytes);
        Assert.Equal("MemAvailable 20.0 GiB; cgroup limit 8.0 GiB, 3.0 GiB used", memory.Source);
    }

    [Fact]
    public void A_cgroup_v1_memory_controller_without_a_limit_leaves_meminfo()
    {
        string root = FakeRoot(memAvailableKib: 4 * 1024 * 1024, cgroupLine: "4:memory:/docker/abc\n0::/");
        Write(root, "sys/fs/cgroup/memory/docker/abc/memory.limit_in_bytes", "9223372036854771712");
        Write(root, "sys/fs/cgroup/memory/docker/abc/memory.usage_in_bytes", "1000");

        AvailableMemory memory = AvailableMemory.ReadLinux(root)!;

        Assert.Equal(4 * GiB, memory.Bytes);
        Assert.Equal("MemAvailable 4.0 GiB", memory.Source);
    }

    [Fact]
    public void A_cgroup_v1_limit_below_meminfo_wins()
    {
        string root = FakeRoot(memAvailableKib: 16 * 1024 * 1024, cgroupLine: "4:cpuacct,memory:/docker/abc");
        Write(root, "sys/fs/cgroup/memory/docker/abc/memory.limit_in_bytes", (2 * GiB).ToString());
        Write(root, "sys/fs/cgroup/memory/docker/abc/memory.usage_in_bytes", (GiB / 2).ToString());

        Assert.Equal(GiB + GiB / 2, AvailableMemory.ReadLinux(root)!.Bytes);
    }

    [Fact]
    public void Nothing_readable_gives_null_and_the_real_machine_gives_a_positive_figure()
    {
        Assert.Null(AvailableMemory.ReadLinux(Directory.CreateTempSubdirectory("empty-root-").FullName));
        AvailableMemory real = AvailableMemory.Read();
        Assert.True(real.Bytes > 0, real.Source);
    }

    private static string FakeRoot(long memAvailableKib, string cgroupLine)
    {
        string root = Directory.CreateTempSubdirectory("fake-root-").FullName;
        Write(root, "proc/meminfo", $"MemTotal:       25000000 kB\nMemFree:          100000 kB\nMemAvailable:   {memAvailableKib} kB\n");
        Write(root, "proc/self/cgroup", cgroupLine + "\n");
        return root;
    }

    private static void Write(string root, string relative, string text)
    {
        string path = Path.Combine(root, relative);
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        File.WriteAllText(path, text);
    }
}
