using System.Buffers.Binary;

namespace Diffusion.Core.Tests.Graphs;

/// <summary>
/// The graph builder's fixtures in TestData/graphs (written by tools/reference-data/graphs/): paths, reference tensors
/// (little-endian float32), and copies to damage in a temporary folder.
/// </summary>
internal static class GraphFixtures
{
    public static string Fixture(params string[] parts) => Path.Combine([AppContext.BaseDirectory, "TestData", "graphs", .. parts]);

    /// <summary>reference/<paramref name="name"/>.f32 as floats.</summary>
    public static float[] Reference(string name)
    {
        byte[] bytes = File.ReadAllBytes(Fixture("reference", name + ".f32"));
        var values = new float[bytes.Length / 4];
        for (int i = 0; i < values.Length; i++)
            values[i] = BinaryPrimitives.ReadSingleLittleEndian(bytes.AsSpan(i * 4));
        return values;
    }

    /// <summary>A copy of the fixture folder <paramref name="name"/> (with its sub-folders) in a new temporary folder.</summary>
    public static string CopyFolder(string name) => CopyTree(Fixture(name), Directory.CreateTempSubdirectory("diffusion-core-graphs-").FullName);

    /// <summary>Copies <paramref name="source"/> with its sub-folders into <paramref name="target"/>; returns <paramref name="target"/>.</summary>
    public static string CopyTree(string source, string target)
    {
        foreach (string file in Directory.GetFiles(source, "*", SearchOption.AllDirectories))
        {
            string destination = Path.Combine(target, Path.GetRelativePath(source, file));
            Directory.CreateDirectory(Path.GetDirectoryName(destination)!);
            File.Copy(file, destination);
        }
        return target;
    }
}
