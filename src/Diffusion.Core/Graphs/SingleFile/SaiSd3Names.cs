namespace Diffusion.Core.Graphs.SingleFile;

/// <summary>
/// Where each diffusers <c>SD3Transformer2DModel</c> parameter lies in a Stability AI single-file checkpoint
/// (<c>sd3.5_large.safetensors</c>, <c>sd3.5_medium.safetensors</c>, <c>sd3_medium.safetensors</c>: MMDiT keys under
/// <c>model.diffusion_model.</c>), after diffusers' <c>convert_sd3_transformer_checkpoint_to_diffusers</c>: fused q/k/v
/// split into row blocks. The continuous norms (the last block's context norm and the final norm) are stored
/// (shift, scale) where diffusers has (scale, shift); <see cref="Architectures.Sd3TransformerGraph"/> is told.
/// </summary>
internal static class SaiSd3Names
{
    /// <summary>The key every SAI SD3 checkpoint has (after the prefix).</summary>
    public const string Marker = "joint_blocks.0.x_block.attn.qkv.weight";

    /// <summary>The checkpoint tensor behind diffusers' <paramref name="name"/>, or null when the name is not SD3's.</summary>
    public static CheckpointTensor? Map(string name, string prefix)
    {
        CheckpointTensor Whole(string key) => new(prefix + key);
        switch (name)
        {
            case "pos_embed.pos_embed": return Whole("pos_embed");
            case "pos_embed.proj.weight": return Whole("x_embedder.proj.weight");
            case "pos_embed.proj.bias": return Whole("x_embedder.proj.bias");
            case "context_embedder.weight": return Whole("context_embedder.weight");
            case "context_embedder.bias": return Whole("context_embedder.bias");
            case "proj_out.weight": return Whole("final_layer.linear.weight");
            case "proj_out.bias": return Whole("final_layer.linear.bias");
            case "norm_out.linear.weight": return Whole("final_layer.adaLN_modulation.1.weight");
            case "norm_out.linear.bias": return Whole("final_layer.adaLN_modulation.1.bias");
        }
        string[] parts = name.Split('.');
        if (name.StartsWith("time_text_embed.", StringComparison.Ordinal) && parts.Length == 4)
        {
            string? embedder = parts[1] switch { "timestep_embedder" => "t_embedder", "text_embedder" => "y_embedder", _ => null };
            string? layer = parts[2] switch { "linear_1" => "mlp.0", "linear_2" => "mlp.2", _ => null };
            return embedder is null || layer is null ? null : Whole($"{embedder}.{layer}.{parts[3]}");
        }
        if (parts.Length < 4 || parts[0] != "transformer_blocks")
            return null;
        string block = prefix + $"joint_blocks.{parts[1]}.";
        string rest = string.Join('.', parts[2..]);
        CheckpointTensor Qkv(string stream, string attention, int part, string kind) => new($"{block}{stream}.{attention}.qkv.{kind}", Part: part, Parts: 3);
        CheckpointTensor In(string key) => new(block + key);
        string kind = parts[^1];
        return rest switch
        {
            "attn.to_q.weight" or "attn.to_q.bias" => Qkv("x_block", "attn", 0, kind),
            "attn.to_k.weight" or "attn.to_k.bias" => Qkv("x_block", "attn", 1, kind),
            "attn.to_v.weight" or "attn.to_v.bias" => Qkv("x_block", "attn", 2, kind),
            "attn.add_q_proj.weight" or "attn.add_q_proj.bias" => Qkv("context_block", "attn", 0, kind),
            "attn.add_k_proj.weight" or "attn.add_k_proj.bias" => Qkv("context_block", "attn", 1, kind),
            "attn.add_v_proj.weight" or "attn.add_v_proj.bias" => Qkv("context_block", "attn", 2, kind),
            "attn2.to_q.weight" or "attn2.to_q.bias" => Qkv("x_block", "attn2", 0, kind),
            "attn2.to_k.weight" or "attn2.to_k.bias" => Qkv("x_block", "attn2", 1, kind),
            "attn2.to_v.weight" or "attn2.to_v.bias" => Qkv("x_block", "attn2", 2, kind),
            "attn.norm_q.weight" => In("x_block.attn.ln_q.weight"),
            "attn.norm_k.weight" => In("x_block.attn.ln_k.weight"),
            "attn.norm_added_q.weight" => In("context_block.attn.ln_q.weight"),
            "attn.norm_added_k.weight" => In("context_block.attn.ln_k.weight"),
            "attn2.norm_q.weight" => In("x_block.attn2.ln_q.weight"),
            "attn2.norm_k.weight" => In("x_block.attn2.ln_k.weight"),
            "attn.to_out.0.weight" or "attn.to_out.0.bias" => In($"x_block.attn.proj.{kind}"),
            "attn.to_add_out.weight" or "attn.to_add_out.bias" => In($"context_block.attn.proj.{kind}"),
            "attn2.to_out.0.weight" or "attn2.to_out.0.bias" => In($"x_block.attn2.proj.{kind}"),
            "norm1.linear.weight" or "norm1.linear.bias" => In($"x_block.adaLN_modulation.1.{kind}"),
            "norm1_context.linear.weight" or "norm1_context.linear.bias" => In($"context_block.adaLN_modulation.1.{kind}"),
            "ff.net.0.proj.weight" or "ff.net.0.proj.bias" => In($"x_block.mlp.fc1.{kind}"),
            "ff.net.2.weight" or "ff.net.2.bias" => In($"x_block.mlp.fc2.{kind}"),
            "ff_context.net.0.proj.weight" or "ff_context.net.0.proj.bias" => In($"context_block.mlp.fc1.{kind}"),
            "ff_context.net.2.weight" or "ff_context.net.2.bias" => In($"context_block.mlp.fc2.{kind}"),
            _ => null,
        };
    }
}
