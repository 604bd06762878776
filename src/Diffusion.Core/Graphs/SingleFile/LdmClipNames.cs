namespace Diffusion.Core.Graphs.SingleFile;

/// <summary>
/// transformers CLIP text-model names → their place in single-file checkpoints: OpenAI CLIP keeps transformers' names
/// under a prefix (<c>cond_stage_model.transformer.</c>, SDXL's <c>conditioner.embedders.0.transformer.</c>); OpenCLIP
/// (<c>cond_stage_model.model.</c>, <c>conditioner.embedders.1.model.</c>) has its own names, q/k/v fused in
/// <c>in_proj_weight</c> and the projection stored [width, projection], as diffusers' conversion scripts write them.
/// </summary>
internal static class LdmClipNames
{
    /// <summary>OpenAI CLIP: the transformers name under <paramref name="prefix"/>.</summary>
    public static Func<string, CheckpointTensor?> OpenAi(string prefix) => name => new CheckpointTensor(prefix + name);

    /// <summary>OpenCLIP under <paramref name="prefix"/> (e.g. <c>cond_stage_model.model.</c>).</summary>
    public static Func<string, CheckpointTensor?> OpenClip(string prefix) => name => OpenClipName(prefix, name);

    private static CheckpointTensor? OpenClipName(string prefix, string name)
    {
        const string Layers = "text_model.encoder.layers.";
        switch (name)
        {
            case "text_model.embeddings.token_embedding.weight":
                return new(prefix + "token_embedding.weight");
            case "text_model.embeddings.position_embedding.weight":
                return new(prefix + "positional_embedding");
            case "text_projection.weight":
                return new(prefix + "text_projection", Transposed: true);
        }
        if (name.StartsWith("text_model.final_layer_norm.", StringComparison.Ordinal))
            return new(prefix + "ln_final." + name["text_model.final_layer_norm.".Length..]);
        if (!name.StartsWith(Layers, StringComparison.Ordinal))
            return null;
        string rest = name[Layers.Length..];
        int dot = rest.IndexOf('.');
        if (dot < 0)
            return null;
        string block = $"{prefix}transformer.resblocks.{rest[..dot]}.";
        string part = rest[(dot + 1)..];
        foreach ((string projection, int index) in (ReadOnlySpan<(string, int)>)[("self_attn.q_proj.", 0), ("self_attn.k_proj.", 1), ("self_attn.v_proj.", 2)])
        {
            if (part.StartsWith(projection, StringComparison.Ordinal))
                return new(block + "attn.in_proj_" + part[projection.Length..], index, 3);
        }
        foreach ((string transformers, string openClip) in (ReadOnlySpan<(string, string)>)
                 [("self_attn.out_proj.", "attn.out_proj."), ("layer_norm1.", "ln_1."), ("layer_norm2.", "ln_2."), ("mlp.fc1.", "mlp.c_fc."), ("mlp.fc2.", "mlp.c_proj.")])
        {
            if (part.StartsWith(transformers, StringComparison.Ordinal))
                return new(block + openClip + part[transformers.Length..]);
        }
        return null;
    }
}
