namespace Diffusion.Core.Graphs.SingleFile;

/// <summary>
/// Where each diffusers <c>FluxTransformer2DModel</c> parameter lies in a Black Forest Labs checkpoint (the
/// <c>flux1-dev.safetensors</c> / <c>flux1-schnell.safetensors</c> layout model sites publish, with or without ComfyUI's
/// <c>model.diffusion_model.</c> prefix), after diffusers' <c>convert_flux_transformer_checkpoint_to_diffusers</c>: fused
/// q/k/v split into row blocks, the single blocks' <c>linear1</c> into q, k, v and the MLP rows. The final modulation is
/// stored (shift, scale) where diffusers has (scale, shift); <see cref="Architectures.FluxTransformerGraph"/> is told, so no
/// tensor is rewritten.
/// </summary>
internal static class BflFluxNames
{
    /// <summary>The key every BFL FLUX checkpoint has (after the prefix).</summary>
    public const string Marker = "double_blocks.0.img_attn.qkv.weight";

    /// <summary>The layer whose rows are (shift, scale) here and (scale, shift) in diffusers' <c>norm_out.linear</c>.</summary>
    public const string ShiftFirstModulation = "final_layer.adaLN_modulation.1";

    /// <summary>The checkpoint tensor behind diffusers' <paramref name="name"/>, or null when the name is not FLUX's.</summary>
    /// <param name="name">A diffusers parameter name.</param>
    /// <param name="prefix">The checkpoint's key prefix ("" or "model.diffusion_model.").</param>
    /// <param name="innerDim">The block width (rows of each q/k/v block).</param>
    public static CheckpointTensor? Map(string name, string prefix, long innerDim)
    {
        CheckpointTensor? Whole(string key) => new CheckpointTensor(prefix + key);
        string[] parts = name.Split('.');
        switch (name)
        {
            case "x_embedder.weight": return Whole("img_in.weight");
            case "x_embedder.bias": return Whole("img_in.bias");
            case "context_embedder.weight": return Whole("txt_in.weight");
            case "context_embedder.bias": return Whole("txt_in.bias");
            case "proj_out.weight": return Whole("final_layer.linear.weight");
            case "proj_out.bias": return Whole("final_layer.linear.bias");
            case "norm_out.linear.weight": return Whole("final_layer.adaLN_modulation.1.weight");
            case "norm_out.linear.bias": return Whole("final_layer.adaLN_modulation.1.bias");
        }
        if (name.StartsWith("time_text_embed.", StringComparison.Ordinal) && parts.Length == 4)
        {
            string? embedder = parts[1] switch
            {
                "timestep_embedder" => "time_in",
                "guidance_embedder" => "guidance_in",
                "text_embedder" => "vector_in",
                _ => null,
            };
            string? layer = parts[2] switch { "linear_1" => "in_layer", "linear_2" => "out_layer", _ => null };
            return embedder is null || layer is null ? null : Whole($"{embedder}.{layer}.{parts[3]}");
        }
        if (parts.Length >= 4 && parts[0] == "transformer_blocks")
            return DoubleBlock(prefix + $"double_blocks.{parts[1]}.", string.Join('.', parts[2..]), innerDim);
        if (parts.Length >= 4 && parts[0] == "single_transformer_blocks")
            return SingleBlock(prefix + $"single_blocks.{parts[1]}.", string.Join('.', parts[2..]), innerDim);
        return null;
    }

    private static CheckpointTensor? DoubleBlock(string block, string rest, long innerDim)
    {
        CheckpointTensor Qkv(string stream, int part, string kind) => new($"{block}{stream}_attn.qkv.{kind}", Part: part, Parts: 3);
        CheckpointTensor Whole(string key) => new(block + key);
        return rest switch
        {
            "norm1.linear.weight" => Whole("img_mod.lin.weight"),
            "norm1.linear.bias" => Whole("img_mod.lin.bias"),
            "norm1_context.linear.weight" => Whole("txt_mod.lin.weight"),
            "norm1_context.linear.bias" => Whole("txt_mod.lin.bias"),
            "attn.to_q.weight" => Qkv("img", 0, "weight"),
            "attn.to_k.weight" => Qkv("img", 1, "weight"),
            "attn.to_v.weight" => Qkv("img", 2, "weight"),
            "attn.to_q.bias" => Qkv("img", 0, "bias"),
            "attn.to_k.bias" => Qkv("img", 1, "bias"),
            "attn.to_v.bias" => Qkv("img", 2, "bias"),
            "attn.add_q_proj.weight" => Qkv("txt", 0, "weight"),
            "attn.add_k_proj.weight" => Qkv("txt", 1, "weight"),
            "attn.add_v_proj.weight" => Qkv("txt", 2, "weight"),
            "attn.add_q_proj.bias" => Qkv("txt", 0, "bias"),
            "attn.add_k_proj.bias" => Qkv("txt", 1, "bias"),
            "attn.add_v_proj.bias" => Qkv("txt", 2, "bias"),
            "attn.norm_q.weight" => Whole("img_attn.norm.query_norm.scale"),
            "attn.norm_k.weight" => Whole("img_attn.norm.key_norm.scale"),
            "attn.norm_added_q.weight" => Whole("txt_attn.norm.query_norm.scale"),
            "attn.norm_added_k.weight" => Whole("txt_attn.norm.key_norm.scale"),
            "attn.to_out.0.weight" => Whole("img_attn.proj.weight"),
            "attn.to_out.0.bias" => Whole("img_attn.proj.bias"),
            "attn.to_add_out.weight" => Whole("txt_attn.proj.weight"),
            "attn.to_add_out.bias" => Whole("txt_attn.proj.bias"),
            "ff.net.0.proj.weight" => Whole("img_mlp.0.weight"),
            "ff.net.0.proj.bias" => Whole("img_mlp.0.bias"),
            "ff.net.2.weight" => Whole("img_mlp.2.weight"),
            "ff.net.2.bias" => Whole("img_mlp.2.bias"),
            "ff_context.net.0.proj.weight" => Whole("txt_mlp.0.weight"),
            "ff_context.net.0.proj.bias" => Whole("txt_mlp.0.bias"),
            "ff_context.net.2.weight" => Whole("txt_mlp.2.weight"),
            "ff_context.net.2.bias" => Whole("txt_mlp.2.bias"),
            _ => null,
        };
    }

    private static CheckpointTensor? SingleBlock(string block, string rest, long innerDim)
    {
        // linear1 stacks q, k, v (innerDim rows each) then the MLP's 4·innerDim rows.
        CheckpointTensor Rows(string kind, int index, long count) => new($"{block}linear1.{kind}", FirstRow: index * innerDim, RowCount: count);
        CheckpointTensor Whole(string key) => new(block + key);
        return rest switch
        {
            "norm.linear.weight" => Whole("modulation.lin.weight"),
            "norm.linear.bias" => Whole("modulation.lin.bias"),
            "attn.to_q.weight" => Rows("weight", 0, innerDim),
            "attn.to_k.weight" => Rows("weight", 1, innerDim),
            "attn.to_v.weight" => Rows("weight", 2, innerDim),
            "attn.to_q.bias" => Rows("bias", 0, innerDim),
            "attn.to_k.bias" => Rows("bias", 1, innerDim),
            "attn.to_v.bias" => Rows("bias", 2, innerDim),
            "proj_mlp.weight" => Rows("weight", 3, 4 * innerDim),
            "proj_mlp.bias" => Rows("bias", 3, 4 * innerDim),
            "attn.norm_q.weight" => Whole("norm.query_norm.scale"),
            "attn.norm_k.weight" => Whole("norm.key_norm.scale"),
            "proj_out.weight" => Whole("linear2.weight"),
            "proj_out.bias" => Whole("linear2.bias"),
            _ => null,
        };
    }
}
