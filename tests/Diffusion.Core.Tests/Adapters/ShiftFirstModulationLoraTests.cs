using Diffusion.Core.Adapters;
using Diffusion.Core.Graphs;
using Diffusion.Core.Graphs.Architectures;
using Diffusion.Core.Graphs.SingleFile;
using Diffusion.Core.Tests.Graphs;
using Diffusion.Core.Tests.Weights;
using Diffusion.Core.Weights;

namespace Diffusion.Core.Tests.Adapters;

/// <summary>
/// Stability AI's SD3 files store the continuous norms' modulation rows (shift, scale) where diffusers has (scale, shift);
/// the graph built over such a file reads them in place and records which layers they are, so a diffusers-keyed LoRA on
/// those layers is merged with its halves swapped: the merged weights are the folder's, swapped, bit for bit.
/// </summary>
public sealed class ShiftFirstModulationLoraTests
{
    private static readonly string[] s_modulations = ["norm_out.linear", "transformer_blocks.2.norm1_context.linear"];

    [Fact]
    public void A_diffusers_lora_on_sd3s_final_modulations_merges_the_same_into_a_stability_file_as_into_the_folder()
    {
        LoraAdapter lora = LoraAdapter.Load(WriteLora());
        using WeightOverrides folder = Merge(CheckpointTransformer.Build(GraphFixtures.Fixture("sd35-transformer")), lora);
        using WeightOverrides file = Merge(SaiSd3Checkpoint.Build(GraphFixtures.Fixture("sd35-sai.safetensors")), lora);

        Assert.Equal(2, folder.Count);
        foreach (string module in s_modulations)
        {
            float[] diffusersOrder = folder.ReadAsFloat32(module + ".weight");
            float[] fileOrder = file.ReadAsFloat32(module + ".weight");
            Assert.Equal(diffusersOrder, SwapHalves(fileOrder));
            Assert.NotEqual(diffusersOrder, fileOrder);
        }
    }

    [Fact]
    public void Only_graphs_built_over_a_checkpoints_own_rows_list_shift_first_layers()
    {
        Assert.Equal(s_modulations.ToHashSet(), ShiftFirst(SaiSd3Checkpoint.Build(GraphFixtures.Fixture("sd35-sai.safetensors"))));
        FluxTransformerConfig flux = FluxTransformerConfig.FromJson(GraphFixtures.Fixture("flux-dev-transformer", "config.json"));
        Assert.Equal(["norm_out.linear"], ShiftFirst(BflFluxCheckpoint.Build(GraphFixtures.Fixture("flux-dev-bfl.safetensors"), flux)));
        Assert.Empty(ShiftFirst(CheckpointTransformer.Build(GraphFixtures.Fixture("sd35-transformer"))));
    }

    private static HashSet<string> ShiftFirst(BuiltModel model)
        => ShiftFirstModulations.Read(OnnxWeightReader.Read(model.ToSource()).Metadata);

    private static WeightOverrides Merge(BuiltModel model, LoraAdapter lora)
        => LoraMerger.CreateOverrides(model.ToSource(), LoraTarget.Transformer, [new LoraWeight(lora, 0.7f)], out _);

    /// <summary>Rank-1 factors on both modulations (16 → 32 rows), every value distinct.</summary>
    private static string WriteLora()
    {
        var header = new List<string>();
        var values = new List<float>();
        foreach (string module in s_modulations)
        {
            foreach ((string factor, int[] shape) in new[] { ("lora_A", new[] { 1, 16 }), ("lora_B", new[] { 32, 1 }) })
            {
                int count = shape[0] * shape[1], start = values.Count * 4;
                for (int i = 0; i < count; i++)
                    values.Add(MathF.Sin(values.Count * 0.37f + 0.1f));
                header.Add($"\"transformer.{module}.{factor}.weight\":{{\"dtype\":\"F32\",\"shape\":[{shape[0]},{shape[1]}],\"data_offsets\":[{start},{values.Count * 4}]}}");
            }
        }
        return SafeTensorsTestFile.Write("sd3-modulation-lora.safetensors", "{" + string.Join(",", header) + "}", SafeTensorsTestFile.Floats([.. values]));
    }

    private static float[] SwapHalves(float[] rows)
    {
        int half = rows.Length / 2;
        return [.. rows[half..], .. rows[..half]];
    }
}
