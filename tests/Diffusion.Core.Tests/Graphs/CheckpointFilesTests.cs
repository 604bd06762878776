using Diffusion.Core.Execution;
using Diffusion.Core.Graphs;
using Diffusion.Core.TextEncoding;

namespace Diffusion.Core.Tests.Graphs;

public sealed class CheckpointFilesTests
{
    [Fact]
    public void A_sharded_checkpoint_builds_the_same_encoder()
    {
        Assert.Equal(2, CheckpointFiles.Find(GraphFixtures.Fixture("clip-l-sharded"), "model").Count);
        using TextEncoder sharded = CheckpointTextEncoder.Load(GraphFixtures.Fixture("clip-l-sharded"), new SessionSettings { IntraOpThreads = 1 });
        using TextEncoder single = CheckpointTextEncoder.Load(GraphFixtures.Fixture("clip-l"), new SessionSettings { IntraOpThreads = 1 });
        int[] ids = Enumerable.Range(0, 77).Select(i => i < 5 ? 998 - i * 7 : 999).ToArray();
        var a = new float[77 * 32];
        var b = new float[77 * 32];
        sharded.Encode(ids, 1, 77, a);
        single.Encode(ids, 1, 77, b);
        Assert.Equal(b, a);
    }

    [Fact]
    public void The_fp16_variant_is_found_when_there_is_no_full_precision_file()
    {
        string folder = Directory.CreateTempSubdirectory("diffusion-core-variant-").FullName;
        File.Copy(GraphFixtures.Fixture("clip-l-f16", "model.safetensors"), Path.Combine(folder, "model.fp16.safetensors"));
        Assert.Equal(Path.Combine(folder, "model.fp16.safetensors"), Assert.Single(CheckpointFiles.Find(folder, "model")));
        File.Copy(GraphFixtures.Fixture("clip-l", "model.safetensors"), Path.Combine(folder, "model.safetensors"));
        Assert.Equal(Path.Combine(folder, "model.safetensors"), Assert.Single(CheckpointFiles.Find(folder, "model")));
    }

    [Theory]
    [InlineData("../model-00001-of-00002.safetensors", "same folder")]
    [InlineData("/etc/passwd", "same folder")]
    [InlineData("model-00001-of-00002.bin", "same folder")]
    [InlineData("model-00009-of-00009.safetensors", "is not in")]
    public void An_index_cannot_point_outside_its_folder_or_at_a_missing_shard(string shard, string expected)
    {
        string folder = GraphFixtures.CopyFolder("clip-l-sharded");
        string index = Path.Combine(folder, "model.safetensors.index.json");
        File.WriteAllText(index, File.ReadAllText(index).Replace("\"model-00001-of-00002.safetensors\"", System.Text.Json.JsonSerializer.Serialize(shard)));
        var error = Assert.Throws<ModelLoadException>(() => CheckpointFiles.Find(folder, "model"));
        Assert.Equal(index, error.Path);
        Assert.Contains(expected, error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_tensor_in_two_shards_is_refused()
    {
        string folder = GraphFixtures.CopyFolder("clip-l-sharded");
        File.Copy(Path.Combine(folder, "model-00001-of-00002.safetensors"), Path.Combine(folder, "model-00002-of-00002.safetensors"), overwrite: true);
        var error = Assert.Throws<WeightFileException>(() => CheckpointTextEncoder.Load(folder, new SessionSettings()));
        Assert.Contains("is also in", error.Message, StringComparison.Ordinal);
    }
}
