//! Each catalogue format on a tiny generated fixture, real-file quirks included.

use std::fs;
use std::path::{Path, PathBuf};

use lookbook_catalog::{
    Catalog, CatalogError, CatalogFormat, Entry, LabelledListConfig, OpenOptions, ProblemKind, Split, detect_format,
};

/// Create `rel` under `root` (with parents); catalogue readers only need it to exist.
fn touch(root: &Path, rel: &str) {
    let path = root.join(rel);
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    fs::write(path, b"\xff\xd8not decoded here").unwrap();
}

fn open(root: &Path) -> Catalog {
    Catalog::open(root, &OpenOptions::default()).unwrap()
}

fn by_image<'a>(catalog: &'a Catalog, image: &str) -> &'a Entry {
    catalog
        .entries
        .iter()
        .find(|e| e.image == Path::new(image))
        .unwrap_or_else(|| panic!("no entry for {image}"))
}

const HM_HEADER: &str = "article_id,product_code,prod_name,product_type_no,product_type_name,product_group_name,graphical_appearance_no,graphical_appearance_name,colour_group_code,colour_group_name,perceived_colour_value_id,perceived_colour_value_name,perceived_colour_master_id,perceived_colour_master_name,department_no,department_name,index_code,index_name,index_group_no,index_group_name,section_no,section_name,garment_group_no,garment_group_name,detail_desc";

#[test]
fn hm_articles_with_quotes_newlines_and_leading_zeros() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let csv = format!(
        "{HM_HEADER}\n\
         0108775015,0108775,Strap top,253,Vest top,Garment Upper body,1010016,Solid,9,Black,4,Dark,5,Black,1676,Jersey Basic,A,Ladieswear,1,Ladieswear,16,\"Womens Everyday Basics, Tops\",1002,Jersey Basic,\"Jersey top with narrow\nshoulder straps, a \"\"classic\"\".\"\n\
         0108775044,108775,Strap top,253,Vest top,Garment Upper body,1010016,Solid,10,White,3,Light,9,White,1676,Jersey Basic,A,Ladieswear,1,Ladieswear,16,\"Womens Everyday Basics, Tops\",1002,Jersey Basic,Plain.\n\
         110065001,110065,OP T-shirt,306,Bra,Underwear,1010016,Solid,9,Black,4,Dark,5,Black,1339,Clean Lingerie,B,Lingeries/Tights,1,Ladieswear,61,Womens Lingerie,1017,\"Under-, Nightwear\",Microfibre.\n\
         0999999001,999999,Ghost,1,Sock,Socks & Tights,1,Solid,9,Black,4,Dark,5,Black,1,Socks,B,Lingeries/Tights,1,Ladieswear,1,Socks,1,Socks,Not photographed.\n\
         12ab,999,Broken,1,Sock,Socks & Tights,1,Solid,9,Black,4,Dark,5,Black,1,Socks,B,x,1,x,1,x,1,x,x\n"
    );
    fs::write(root.join("articles.csv"), csv).unwrap();
    for id in ["0108775015", "0108775044", "0110065001"] {
        touch(root, &format!("images/{}/{id}.jpg", &id[..3]));
    }
    assert_eq!(detect_format(root).unwrap(), CatalogFormat::Hm);
    let catalog = open(root);
    assert_eq!(catalog.entries.len(), 3);
    assert_eq!(catalog.item_count(), 2, "0108775 and 108775 are one product code");
    let first = by_image(&catalog, "images/010/0108775015.jpg");
    assert_eq!(first.item_id, "108775");
    assert_eq!(
        catalog.attribute(first, "section_name"),
        Some("Womens Everyday Basics, Tops")
    );
    assert_eq!(catalog.attribute(first, "product_type_name"), Some("Vest top"));
    assert_eq!(catalog.attribute(first, "prod_name"), Some("Strap top"));
    // An article id that lost its leading zero in a spreadsheet still finds its photo.
    let padded = by_image(&catalog, "images/011/0110065001.jpg");
    assert_eq!(
        catalog.attribute(padded, "garment_group_name"),
        Some("Under-, Nightwear")
    );
    let missing: Vec<_> = catalog.problems_of(ProblemKind::MissingImage).collect();
    assert_eq!(missing.len(), 1);
    assert!(missing[0].detail.contains("0999999001.jpg"), "{}", missing[0]);
    assert!(missing[0].location.starts_with("articles.csv:"), "{}", missing[0]);
    let malformed: Vec<_> = catalog.problems_of(ProblemKind::MalformedRow).collect();
    assert_eq!(malformed.len(), 1);
    assert!(malformed[0].detail.contains("12ab"));
    // The quoted newline makes one record span two lines; later rows report their real line.
    assert_eq!(malformed[0].location, "articles.csv:7");
}

#[test]
fn myntra_styles_with_trailing_columns_and_unquoted_commas() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let csv = "id,gender,masterCategory,subCategory,articleType,baseColour,season,year,usage,productDisplayName,,\n\
               15970,Men,Apparel,Topwear,Shirts,Navy Blue,Fall,2011,Casual,Turtle Check Men Navy Blue Shirt,,\n\
               39386,Men,Apparel,Bottomwear,Jeans,Blue,Summer,2012,Casual,Peter England Men Party Blue Jeans\n\
               59263,Women,Accessories,Watches,Watches,Silver,Winter,2016,Casual,Titan Women Silver, Gold Watch, Steel,,\n\
               21379,Men,Apparel,Bottomwear,Track Pants,Black,Fall,2011\n\
               99999,Men,Apparel,Topwear,Tshirts,Red,Summer,2012,Casual,No photo\n";
    fs::write(root.join("styles.csv"), csv).unwrap();
    for id in ["15970", "39386", "59263", "21379"] {
        touch(root, &format!("images/{id}.jpg"));
    }
    assert_eq!(detect_format(root).unwrap(), CatalogFormat::Myntra);
    let catalog = open(root);
    assert_eq!(catalog.entries.len(), 4);
    assert_eq!(
        catalog.columns.len(),
        9,
        "empty trailing header names are dropped: {:?}",
        catalog.columns
    );
    let watch = by_image(&catalog, "images/59263.jpg");
    assert_eq!(
        catalog.attribute(watch, "productDisplayName"),
        Some("Titan Women Silver, Gold Watch, Steel")
    );
    assert_eq!(catalog.attribute(watch, "subCategory"), Some("Watches"));
    let shirt = by_image(&catalog, "images/15970.jpg");
    assert_eq!(shirt.item_id, "15970");
    assert_eq!(
        catalog.attribute(shirt, "productDisplayName"),
        Some("Turtle Check Men Navy Blue Shirt")
    );
    let short = by_image(&catalog, "images/21379.jpg");
    assert_eq!(
        catalog.attribute(short, "usage"),
        None,
        "short row padded with empty values"
    );
    assert_eq!(
        catalog.problems_of(ProblemKind::RepairedRow).count(),
        2,
        "{:?}",
        catalog.problems
    );
    assert_eq!(catalog.problems_of(ProblemKind::MissingImage).count(), 1);
}

#[test]
fn myntra_without_optional_columns() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    fs::write(
        root.join("styles.csv"),
        "id,gender,masterCategory,subCategory,baseColour,season,usage,productDisplayName\n1,Men,Apparel,Topwear,Red,Fall,Casual,Red Tee\n",
    )
    .unwrap();
    touch(root, "images/1.png");
    let catalog = open(root);
    assert_eq!(catalog.entries[0].image, PathBuf::from("images/1.png"));
    assert_eq!(catalog.column_index("articleType"), None);
    assert_eq!(catalog.attribute(&catalog.entries[0], "season"), Some("Fall"));
}

fn inshop_fixture(root: &Path, image_base: &str, declared: usize) {
    let rows = [
        ("img/WOMEN/Dresses/id_00000002/02_1_front.jpg", "id_00000002", "train"),
        ("img/WOMEN/Dresses/id_00000002/02_2_side.jpg", "id_00000002", "train"),
        ("img/MEN/Denim/id_00000080/01_1_front.jpg", "id_00000080", "query"),
        ("img/MEN/Denim/id_00000080/01_2_side.jpg", "id_00000080", "gallery"),
        ("img/MEN/Denim/id_00000081/01_1_front.jpg", "id_00000081", "gallery"),
    ];
    let mut text = format!("{declared}\nimage_name item_id evaluation_status\n");
    for (img, item, status) in rows {
        // The official file pads its columns with runs of spaces.
        text.push_str(&format!("{img}          {item}  {status}\n"));
        touch(root, &format!("{image_base}{img}"));
    }
    text.push_str("img/MEN/Denim/id_00000081/02_1_front.jpg id_00000081 validation\n");
    fs::create_dir_all(root.join("Eval")).unwrap();
    fs::write(root.join("Eval/list_eval_partition.txt"), text).unwrap();
}

#[test]
fn inshop_partition_in_the_official_layout() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    inshop_fixture(root, "Img/", 6);
    assert_eq!(detect_format(root).unwrap(), CatalogFormat::InShop);
    let catalog = open(root);
    assert!(catalog.splits_from_source);
    assert_eq!(catalog.entries.len(), 5);
    let sizes = catalog.split_sizes();
    assert_eq!(sizes[&Split::Train], 2);
    assert_eq!(sizes[&Split::Query], 1);
    assert_eq!(sizes[&Split::Gallery], 2);
    let q = catalog.split(Split::Query).next().unwrap();
    assert_eq!(q.item_id, "id_00000080");
    assert_eq!(q.image, PathBuf::from("Img/img/MEN/Denim/id_00000080/01_1_front.jpg"));
    assert!(catalog.image_path(q).is_file());
    assert_eq!(catalog.attribute(q, "gender"), Some("MEN"));
    assert_eq!(catalog.attribute(q, "category"), Some("Denim"));
    let bad: Vec<_> = catalog.problems_of(ProblemKind::MalformedRow).collect();
    assert_eq!(bad.len(), 1);
    assert!(bad[0].detail.contains("validation"));
    assert_eq!(catalog.problems_of(ProblemKind::CountMismatch).count(), 0);
}

#[test]
fn inshop_flat_layout_and_count_mismatch() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    inshop_fixture(root, "", 52712);
    let catalog = open(root);
    assert_eq!(catalog.entries.len(), 5);
    assert_eq!(
        catalog.entries[0].image,
        PathBuf::from("img/WOMEN/Dresses/id_00000002/02_1_front.jpg")
    );
    let mismatch: Vec<_> = catalog.problems_of(ProblemKind::CountMismatch).collect();
    assert_eq!(mismatch.len(), 1);
    assert!(mismatch[0].detail.contains("52712"));
}

#[test]
fn inshop_with_a_broken_header_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    fs::create_dir_all(dir.path().join("Eval")).unwrap();
    fs::write(
        dir.path().join("Eval/list_eval_partition.txt"),
        "three\nimage_name item_id evaluation_status\n",
    )
    .unwrap();
    let err = Catalog::open(dir.path(), &OpenOptions::default()).unwrap_err();
    assert!(err.to_string().contains("image count"), "{err}");
}

#[test]
fn plain_folder_items_from_parent_or_stem() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    for rel in [
        "shirts/A1/front.jpg",
        "shirts/A1/back.JPG",
        "shirts/B2/x.png",
        "loose.webp",
    ] {
        touch(root, rel);
    }
    fs::write(root.join("shirts/notes.txt"), "not an image").unwrap();
    assert_eq!(detect_format(root).unwrap(), CatalogFormat::Folder);
    let catalog = open(root);
    assert_eq!(catalog.entries.len(), 4);
    assert_eq!(by_image(&catalog, "shirts/A1/back.JPG").item_id, "shirts/A1");
    assert_eq!(by_image(&catalog, "loose.webp").item_id, "loose");
    assert_eq!(catalog.item_count(), 3);
    let options = OpenOptions {
        item_from_stem: true,
        ..Default::default()
    };
    let by_stem = Catalog::open(root, &options).unwrap();
    assert_eq!(by_image(&by_stem, "shirts/A1/front.jpg").item_id, "front");
    assert_eq!(by_stem.item_count(), 4);
}

#[test]
fn labelled_csv_with_guessed_columns() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    fs::write(
        root.join("labels.csv"),
        "image,item_id,labels,season\n\
         photos/1.jpg,look-1,red|long sleeve|red,winter\n\
         photos/2.jpg,look-1,red;floral,\n\
         photos/3.jpg,,denim  casual,summer\n\
         ../escape.jpg,x,red,\n\
         photos/4.jpg,look-4,red,\n",
    )
    .unwrap();
    for i in 1..=3 {
        touch(root, &format!("photos/{i}.jpg"));
    }
    assert_eq!(detect_format(root).unwrap(), CatalogFormat::Labelled);
    let catalog = open(root);
    assert_eq!(catalog.entries.len(), 3);
    assert_eq!(catalog.columns, vec!["season"]);
    let e1 = by_image(&catalog, "photos/1.jpg");
    assert_eq!(e1.labels, vec!["long sleeve", "red"], "split on |, deduplicated");
    assert_eq!(e1.item_id, "look-1");
    assert_eq!(catalog.attribute(e1, "season"), Some("winter"));
    assert_eq!(by_image(&catalog, "photos/2.jpg").labels, vec!["floral", "red"]);
    let e3 = by_image(&catalog, "photos/3.jpg");
    assert_eq!(e3.labels, vec!["casual", "denim"]);
    assert_eq!(e3.item_id, "photos/3.jpg", "no item id: the image is its own item");
    assert_eq!(
        catalog.problems_of(ProblemKind::MalformedRow).count(),
        1,
        "path escaping the root"
    );
    assert_eq!(catalog.problems_of(ProblemKind::MissingImage).count(), 1);
}

#[test]
fn labelled_tsv_named_by_toml_and_flags() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    fs::write(
        root.join("lookbook-catalog.toml"),
        "[labelled]\nfile = \"fashion144k.tsv\"\nimage_column = \"file\"\nitem_column = \"look\"\n\
         labels_column = \"tags\"\nlabel_separator = \",\"\nimage_root = \"imgs\"\n",
    )
    .unwrap();
    fs::write(
        root.join("fashion144k.tsv"),
        "file\tlook\ttags\n1.jpg\tL1\tblue, jeans ,jacket\n2.jpg\tL1\tblue\n",
    )
    .unwrap();
    touch(root, "imgs/1.jpg");
    touch(root, "imgs/2.jpg");
    assert_eq!(detect_format(root).unwrap(), CatalogFormat::Labelled);
    let catalog = open(root);
    assert_eq!(catalog.entries.len(), 2);
    assert_eq!(catalog.entries[0].image, PathBuf::from("imgs/1.jpg"));
    assert_eq!(catalog.entries[0].labels, vec!["blue", "jacket", "jeans"]);
    assert_eq!(catalog.item_count(), 1);
    // A flag wins over the TOML: split on spaces instead of commas.
    let flags = LabelledListConfig {
        label_separator: Some(" ".into()),
        ..Default::default()
    };
    let options = OpenOptions {
        labelled: Some(flags),
        ..Default::default()
    };
    let catalog = Catalog::open(root, &options).unwrap();
    assert_eq!(catalog.entries[0].labels, vec![",jacket", "blue,", "jeans"]);
}

#[test]
fn format_override_and_errors() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    fs::write(root.join("readme.txt"), "nothing here").unwrap();
    let err = Catalog::open(root, &OpenOptions::default()).unwrap_err();
    assert!(matches!(err, CatalogError::UnknownFormat { .. }), "{err}");
    assert!(err.to_string().contains("--format"));
    let err = Catalog::open(root.join("nope"), &OpenOptions::default()).unwrap_err();
    assert!(matches!(err, CatalogError::NotADirectory { .. }), "{err}");
    // A folder of images that also has a styles.csv: --format folder reads it as a folder.
    touch(root, "a/1.jpg");
    fs::write(root.join("styles.csv"), "id,gender\n").unwrap();
    assert_eq!(detect_format(root).unwrap(), CatalogFormat::Myntra);
    let forced = Catalog::open(
        root,
        &OpenOptions {
            format: Some(CatalogFormat::Folder),
            ..Default::default()
        },
    )
    .unwrap();
    assert_eq!(forced.format, CatalogFormat::Folder);
    assert_eq!(forced.entries.len(), 1);
    let err = Catalog::open(root, &OpenOptions::default()).unwrap_err();
    assert!(matches!(err, CatalogError::Empty { .. }), "{err}");
    assert!("bogus".parse::<CatalogFormat>().is_err());
    let hm = OpenOptions {
        format: Some(CatalogFormat::Hm),
        ..Default::default()
    };
    let err = Catalog::open(root, &hm).unwrap_err();
    assert!(err.to_string().contains("articles.csv"), "{err}");
}
