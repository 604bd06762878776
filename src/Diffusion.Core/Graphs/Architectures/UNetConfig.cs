namespace Diffusion.Core.Graphs.Architectures;

/// <summary>
/// diffusers' <c>UNet2DConditionModel</c> shape for the SD 1.x / 2.x / SDXL family: channels per level, which levels
/// have cross-attention, ResNets and transformer layers per level, heads, cross-attention width, linear or 1×1-conv
/// transformer projections, and SDXL's <c>text_time</c> added conditioning. <c>Heads</c> is the attention heads per level
/// (diffusers' <c>attention_head_dim</c>, which these configs use as the head count); <c>AddTimeIds</c> the number of SDXL
/// <c>time_ids</c> (6 base, 5 refiner) and <c>TextEmbedsWidth</c> its pooled width (1280), both 0 without added conditioning.
/// </summary>
internal sealed record UNetConfig(int InChannels, int OutChannels, int[] BlockOutChannels, bool[] CrossAttention, int LayersPerBlock,
    int[] TransformerLayers, int[] Heads, int CrossAttentionDim, bool LinearProjection, int NormGroups = 32, float NormEpsilon = 1e-5f,
    bool FlipSinToCos = true, int FreqShift = 0, int AddTimeIds = 0, int AddTimeEmbedDim = 256, int TextEmbedsWidth = 0)
{
    /// <summary>The width of the time embedding (4 × the first level's channels).</summary>
    public int TimeEmbedDim => BlockOutChannels[0] * 4;

    /// <summary>SD 1.5: 859,520,964 parameters (859,535,364 with 9 input channels, the inpainting UNet).</summary>
    public static UNetConfig StableDiffusion15(int inChannels = 4) => new(inChannels, 4, [320, 640, 1280, 1280], [true, true, true, false], 2,
        [1, 1, 1, 1], [8, 8, 8, 8], 768, false);

    /// <summary>SD 2.x (512 and 768-v): 865,910,724 parameters.</summary>
    public static UNetConfig StableDiffusion21 { get; } = new(4, 4, [320, 640, 1280, 1280], [true, true, true, false], 2,
        [1, 1, 1, 1], [5, 10, 20, 20], 1024, true);

    /// <summary>SDXL base: 2,567,463,684 parameters.</summary>
    public static UNetConfig StableDiffusionXL { get; } = new(4, 4, [320, 640, 1280], [false, true, true], 2,
        [1, 2, 10], [5, 10, 20], 2048, true, AddTimeIds: 6, TextEmbedsWidth: 1280);

    /// <summary>SDXL refiner: four levels (384 … 1536), four transformer layers, 5 time ids (aesthetic score), cross 1280.</summary>
    public static UNetConfig StableDiffusionXLRefiner { get; } = new(4, 4, [384, 768, 1536, 1536], [false, true, true, false], 2,
        [4, 4, 4, 4], [6, 12, 24, 24], 1280, true, AddTimeIds: 5, TextEmbedsWidth: 1280);

    /// <summary>
    /// Reads a diffusers <c>unet/config.json</c>. <paramref name="textEmbedsWidth"/> is the pooled width an SDXL UNet's
    /// <c>text_embeds</c> has (the text encoder's projection, 1280 for SDXL); the rest of
    /// <c>projection_class_embeddings_input_dim</c> is <c>time_ids</c>, <c>addition_time_embed_dim</c> each.
    /// </summary>
    /// <exception cref="ModelLoadException">A field is missing, out of range, or asks for something this builder does not build.</exception>
    public static UNetConfig FromJson(string path, int textEmbedsWidth = 1280)
    {
        using ConfigFields fields = ConfigFields.Read(path);
        string className = fields.String("_class_name", "UNet2DConditionModel");
        if (className != "UNet2DConditionModel")
            throw new ModelLoadException(path, $"_class_name is {className}; this builder knows UNet2DConditionModel.");
        RequireDefault(fields, "act_fn", "silu");
        RequireDefault(fields, "mid_block_type", "UNetMidBlock2DCrossAttn");
        RequireDefault(fields, "resnet_time_scale_shift", "default");
        RequireDefault(fields, "time_embedding_type", "positional");
        RequireDefault(fields, "attention_type", "default");
        if (fields.Bool("center_input_sample", false))
            throw new ModelLoadException(path, "center_input_sample is set; the graph builder does not build it.");
        foreach ((string name, int expected) in (ReadOnlySpan<(string, int)>)[("conv_in_kernel", 3), ("conv_out_kernel", 3), ("downsample_padding", 1), ("mid_block_scale_factor", 1)])
        {
            if (fields.Has(name) && fields.Float(name, -1, 1 << 10, expected) != expected)
                throw new ModelLoadException(path, $"{name} must be {expected} (as every SD and SDXL UNet has it).");
        }
        foreach (string unsupported in (string[])["reverse_transformer_layers_per_block", "class_embed_type", "encoder_hid_dim", "time_cond_proj_dim", "num_class_embeds", "timestep_post_act"])
        {
            if (fields.Has(unsupported))
                throw new ModelLoadException(path, $"{unsupported} is set; the graph builder does not build it yet.");
        }
        if (fields.Bool("only_cross_attention", false) || fields.Bool("dual_cross_attention", false))
            throw new ModelLoadException(path, "only_cross_attention / dual_cross_attention are not built.");

        int[] blocks = fields.Ints("block_out_channels", 8, 1, 8192);
        int levels = blocks.Length;
        string[] down = fields.Strings("down_block_types", 8);
        string[] up = fields.Strings("up_block_types", 8);
        if (down.Length != levels || up.Length != levels)
            throw new ModelLoadException(path, $"down_block_types and up_block_types must have {levels} entries (one per block_out_channels).");
        var cross = new bool[levels];
        for (int i = 0; i < levels; i++)
        {
            cross[i] = down[i] switch
            {
                "CrossAttnDownBlock2D" => true,
                "DownBlock2D" => false,
                _ => throw new ModelLoadException(path, $"down_block_types[{i}] {down[i]} is not built (CrossAttnDownBlock2D, DownBlock2D)."),
            };
            string mirror = cross[i] ? "CrossAttnUpBlock2D" : "UpBlock2D";
            if (up[levels - 1 - i] != mirror)
                throw new ModelLoadException(path, $"up_block_types[{levels - 1 - i}] is {up[levels - 1 - i]}; mirroring down_block_types[{i}] it must be {mirror}.");
        }
        int groups = fields.Int("norm_num_groups", 1, 1024, 32);
        foreach (int channels in blocks)
        {
            if (channels % groups != 0)
                throw new ModelLoadException(path, $"block_out_channels {channels} is not a multiple of norm_num_groups {groups}.");
        }
        int layers = fields.UniformInt("layers_per_block", levels, 1, 16, 2);
        int[] transformerLayers = fields.IntOrList("transformer_layers_per_block", levels, 1, 64, 1);
        // diffusers' naming quirk: with num_attention_heads unset, attention_head_dim is the number of heads.
        int[] heads = fields.Has("num_attention_heads")
            ? fields.IntOrList("num_attention_heads", levels, 1, 1024, 8)
            : fields.IntOrList("attention_head_dim", levels, 1, 1024, 8);
        for (int i = 0; i < levels; i++)
        {
            if (blocks[i] % heads[i] != 0)
                throw new ModelLoadException(path, $"block_out_channels[{i}] {blocks[i]} is not a multiple of its {heads[i]} attention heads.");
        }

        int addTimeIds = 0, addTimeDim = 256, textWidth = 0;
        string addition = fields.String("addition_embed_type", "");
        if (addition == "text_time")
        {
            addTimeDim = fields.Int("addition_time_embed_dim", 2, 4096);
            int projection = fields.Int("projection_class_embeddings_input_dim", 1, 1 << 20);
            int rest = projection - textEmbedsWidth;
            if (rest <= 0 || rest % addTimeDim != 0)
                throw new ModelLoadException(path, $"projection_class_embeddings_input_dim {projection} is not {textEmbedsWidth} (text_embeds) + a whole number of {addTimeDim}-wide time ids.");
            addTimeIds = rest / addTimeDim;
            textWidth = textEmbedsWidth;
        }
        else if (addition.Length > 0)
        {
            throw new ModelLoadException(path, $"addition_embed_type {addition} is not built (text_time).");
        }
        return new UNetConfig(fields.Int("in_channels", 1, 64, 4), fields.Int("out_channels", 1, 64, 4), blocks, cross, layers, transformerLayers, heads,
            fields.Int("cross_attention_dim", 1, 16384, 1280), fields.Bool("use_linear_projection", false), groups,
            fields.Float("norm_eps", 0, 1, 1e-5f), fields.Bool("flip_sin_to_cos", true), fields.Int("freq_shift", 0, 1, 0), addTimeIds, addTimeDim, textWidth);
    }

    /// <summary>This config as diffusers writes <c>unet/config.json</c> (what an exported folder's loader reads).</summary>
    public string ToDiffusersJson(int sampleSize)
    {
        var config = new System.Text.Json.Nodes.JsonObject
        {
            ["_class_name"] = "UNet2DConditionModel",
            ["sample_size"] = sampleSize,
            ["in_channels"] = InChannels,
            ["out_channels"] = OutChannels,
            ["flip_sin_to_cos"] = FlipSinToCos,
            ["freq_shift"] = FreqShift,
            ["down_block_types"] = Array(CrossAttention.Select(c => c ? "CrossAttnDownBlock2D" : "DownBlock2D")),
            ["mid_block_type"] = "UNetMidBlock2DCrossAttn",
            ["up_block_types"] = Array(CrossAttention.AsEnumerable().Reverse().Select(c => c ? "CrossAttnUpBlock2D" : "UpBlock2D")),
            ["block_out_channels"] = Array(BlockOutChannels),
            ["layers_per_block"] = LayersPerBlock,
            ["transformer_layers_per_block"] = Array(TransformerLayers),
            ["attention_head_dim"] = Array(Heads),
            ["cross_attention_dim"] = CrossAttentionDim,
            ["use_linear_projection"] = LinearProjection,
            ["norm_num_groups"] = NormGroups,
            ["norm_eps"] = NormEpsilon,
            ["act_fn"] = "silu",
        };
        if (AddTimeIds > 0)
        {
            config["addition_embed_type"] = "text_time";
            config["addition_time_embed_dim"] = AddTimeEmbedDim;
            config["projection_class_embeddings_input_dim"] = TextEmbedsWidth + AddTimeIds * AddTimeEmbedDim;
        }
        return config.ToJsonString(new System.Text.Json.JsonSerializerOptions { WriteIndented = true });

        static System.Text.Json.Nodes.JsonArray Array<T>(IEnumerable<T> values) => new([.. values.Select(v => System.Text.Json.Nodes.JsonValue.Create(v))]);
    }

    private static void RequireDefault(ConfigFields fields, string name, string expected)
    {
        string value = fields.String(name, expected);
        if (value != expected)
            throw new ModelLoadException(fields.Path, $"{name} {value} is not built ({expected}).");
    }
}
