using System.Buffers.Binary;
using Microsoft.ML.OnnxRuntime;

namespace Diffusion.Core.Tests.Graphs;

/// <summary>
/// The graph builder's fixtures in TestData/graphs (written by tools/reference-data/graphs/): paths, reference tensors
/// (little-endian float32), and copies to damage in a temporary folder.
/// </summary>
internal static class GraphFixtures
{
    /// <summary>
    /// How far a whole generation with built graphs may be from the same one with torch's export (max |Δ| of the final
    /// latents): built graphs run attention as one fused <c>com.microsoft.MultiHeadAttention</c> node where the export
    /// has the MatMul/Softmax/MatMul chain, which rounds differently (~1e-6 per call) and compounds over the steps (up to
    /// ~5e-5 after 4 steps on the tiny fixtures). Each built model alone matches its reference to 1e-4 in its own tests.
    /// </summary>
    public const float BuiltVersusExportLatents = 1e-4f;

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

    /// <summary>
    /// Runs an SD3 transformer session on the fixture inputs diffusers was given (reference/sd3.hidden, .context, .pooled,
    /// .timestep: batch 2, 4×8×6 latents, 5 caption tokens 12 wide) and returns <c>out_hidden_states</c> ([2, 4, 8, 6]).
    /// </summary>
    public static float[] RunSd3Transformer(InferenceSession session)
    {
        using OrtValue hidden = OrtValue.CreateTensorValueFromMemory(Reference("sd3.hidden"), [2, 4, 8, 6]);
        using OrtValue context = OrtValue.CreateTensorValueFromMemory(Reference("sd3.context"), [2, 5, 12]);
        using OrtValue pooled = OrtValue.CreateTensorValueFromMemory(Reference("sd3.pooled"), [2, 10]);
        using OrtValue timestep = OrtValue.CreateTensorValueFromMemory(Reference("sd3.timestep"), [2]);
        using var runOptions = new RunOptions();
        using IDisposableReadOnlyCollection<OrtValue> outputs = session.Run(runOptions,
            ["hidden_states", "encoder_hidden_states", "pooled_projections", "timestep"], [hidden, context, pooled, timestep], ["out_hidden_states"]);
        Assert.Equal([2, 4, 8, 6], outputs[0].GetTensorTypeAndShape().Shape);
        return outputs[0].GetTensorDataAsSpan<float>().ToArray();
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
